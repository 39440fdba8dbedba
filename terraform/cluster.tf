# ---------------------------------------------------------------------------------------------
# EKS control plane
# ---------------------------------------------------------------------------------------------
locals {
  log_group_name = "/aws/eks/${var.cluster_name}/cluster"
}

# EKS writes control-plane logs to this fixed name; creating it first sets retention and
# encryption (otherwise EKS creates it unencrypted and keeping logs forever).
resource "aws_cloudwatch_log_group" "cluster" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days input (default 90 days): audit logs of a small cluster are high-volume, and a year is a cost decision for the operator, not a default.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.eks.arn
}

resource "aws_eks_cluster" "this" {
  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = local.cluster_log_types

  vpc_config {
    subnet_ids              = var.private_subnet_ids
    security_group_ids      = [aws_security_group.cluster.id]
    endpoint_private_access = true
    # No public endpoint unless CIDRs are given; never 0.0.0.0/0 (variable validation).
    endpoint_public_access = length(var.public_access_cidrs) > 0
    public_access_cidrs    = length(var.public_access_cidrs) > 0 ? var.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  access_config {
    # Access entries only (no aws-auth ConfigMap), and no hidden admin for whoever ran apply.
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  upgrade_policy {
    # STANDARD: when the version leaves standard support EKS upgrades the cluster instead of
    # billing extended support ($0.60/h instead of $0.10/h).
    support_type = "STANDARD"
  }

  lifecycle {
    precondition {
      condition     = length(local.subnet_azs) >= 3
      error_message = "private_subnet_ids must span at least 3 availability zones; they span ${length(local.subnet_azs)}: ${join(", ", local.subnet_azs)}."
    }
    precondition {
      # One node group per zone, each with at least one node (the zonal monitoring volumes).
      condition     = var.node_scaling.min_size >= length(local.subnet_azs)
      error_message = "node_scaling.min_size (${var.node_scaling.min_size}) must be at least the number of availability zones (${length(local.subnet_azs)}): every zone's node group needs min >= 1."
    }
    precondition {
      condition     = length(local.foreign_subnets) == 0
      error_message = "Every subnet in private_subnet_ids must belong to vpc_id ${var.vpc_id}; these do not: ${join(", ", local.foreign_subnets)}."
    }
  }

  # The role's permissions must exist before EKS uses them, and be deleted only after the
  # cluster; the log group must exist before EKS would create its own.
  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_encryption,
    aws_cloudwatch_log_group.cluster,
  ]
}

# --- access entries ----------------------------------------------------------------------------
# Nodes of the managed node group get their access entry from EKS automatically.
resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = aws_eks_access_entry.admin

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}
