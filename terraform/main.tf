# ---------------------------------------------------------------------------------------------
# Shared lookups and names
# ---------------------------------------------------------------------------------------------
# The stack is split by concern: kms.tf, iam.tf, security_groups.tf, cluster.tf, node_group.tf,
# addons.tf, ecr.tf. This file holds what several of them read.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# Each private subnet, to check that they belong to vpc_id and span at least 3 availability
# zones (a variable validation cannot see AWS; the precondition on the cluster does).
data "aws_subnet" "private" {
  for_each = toset(var.private_subnet_ids)

  id = each.value
}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  account_id = data.aws_caller_identity.current.account_id

  subnet_azs = distinct([for s in data.aws_subnet.private : s.availability_zone])
  # Subnets of another VPC than vpc_id, as "subnet-... (vpc-...)".
  foreign_subnets = [for id, s in data.aws_subnet.private : "${id} (${s.vpc_id})" if s.vpc_id != var.vpc_id]

  # Every control-plane log type EKS offers.
  cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  # Cluster Autoscaler auto-discovery tags (its --node-group-auto-discovery flag looks for both).
  # EKS copies them onto the managed node group's Auto Scaling group as well.
  autoscaler_discovery_tags = {
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  }

  # Trust policy for every role handed to pods through EKS Pod Identity.
  pod_identity_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EksPodIdentity"
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}
