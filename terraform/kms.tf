# ---------------------------------------------------------------------------------------------
# KMS: envelope encryption of Kubernetes secrets and of the log groups
# ---------------------------------------------------------------------------------------------
resource "aws_kms_key" "eks" {
  description             = "EKS ${var.cluster_name}: Kubernetes secrets, control-plane and container logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The AWS default key policy: key administration stays with the account's IAM policies
        # (without it the key becomes unmanageable). Key policies always name Resource "*",
        # meaning "this key".
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # CloudWatch Logs encrypts the control-plane and container log groups with this key;
        # the condition limits it to those log groups.
        Sid       = "ClusterLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.${local.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.log_group_name}",
              "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.container_log_group_prefix}/*",
            ]
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.cluster_name}-eks"
  target_key_id = aws_kms_key.eks.key_id
}
