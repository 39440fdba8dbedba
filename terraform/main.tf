# ---------------------------------------------------------------------------------------------
# Shared lookups and names
# ---------------------------------------------------------------------------------------------
# The stack is split by concern: kms.tf, iam.tf, security_groups.tf, cluster.tf, node_group.tf,
# addons.tf, logs.tf, amp.tf, ecr.tf. This file holds what several of them read.

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

  # Availability zones of the private subnets, each with its subnets: one node group per zone.
  subnets_by_az = {
    for az in local.subnet_azs : az => sort([for id, s in data.aws_subnet.private : id if s.availability_zone == az])
  }
  node_azs = sort(keys(local.subnets_by_az))

  # node_scaling (cluster totals) split over the zones: every group gets floor(total / zones)
  # and the first (total mod zones) groups one more, so the groups add up to the totals exactly
  # and min <= desired <= max holds in every group when it holds for the totals.
  node_group_scaling = {
    for i, az in local.node_azs : az => {
      for bound, total in var.node_scaling : bound => floor(total / length(local.node_azs)) + (i < total % length(local.node_azs) ? 1 : 0)
    }
  }

  # The Kubernetes service account each pod role is for; its trust policy admits that one only.
  pod_identity_subjects = merge(
    {
      ebs-csi-driver = {
        namespace       = "kube-system"
        service_account = "ebs-csi-controller-sa" # fixed by the aws-ebs-csi-driver add-on
      }
      cluster-autoscaler = {
        namespace       = var.cluster_autoscaler_service_account.namespace
        service_account = var.cluster_autoscaler_service_account.name
      }
      cloudwatch-agent = {
        # Fixed by the amazon-cloudwatch-observability add-on (agent and Fluent Bit share it).
        namespace       = "amazon-cloudwatch"
        service_account = "cloudwatch-agent"
      }
    },
    var.amp_remote_write ? {
      prometheus = {
        namespace       = var.prometheus_service_account.namespace
        service_account = var.prometheus_service_account.name
      }
    } : {},
  )

  # Trust policy per pod role: EKS Pod Identity, and only for this cluster's association with
  # the one namespace/service account. Pod Identity tags every session with
  # kubernetes-namespace and kubernetes-service-account (EKS user guide, "Pod Identity session
  # tags"), so any other association pointed at the role is refused by STS.
  pod_identity_trust_policies = {
    for key, subject in local.pod_identity_subjects : key => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Sid       = "EksPodIdentity"
        Effect    = "Allow"
        Principal = { Service = "pods.eks.amazonaws.com" }
        Action    = ["sts:AssumeRole", "sts:TagSession"]
        Condition = {
          StringEquals = {
            "aws:SourceAccount"                         = local.account_id
            "aws:RequestTag/eks-cluster-name"           = var.cluster_name
            "aws:RequestTag/kubernetes-namespace"       = subject.namespace
            "aws:RequestTag/kubernetes-service-account" = subject.service_account
          }
        }
      }]
    })
  }
}
