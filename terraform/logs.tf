# ---------------------------------------------------------------------------------------------
# CloudWatch Logs: container logs (Fluent Bit of the amazon-cloudwatch-observability add-on)
# ---------------------------------------------------------------------------------------------
# Fluent Bit writes to these fixed names and would create them itself, without retention or
# encryption; creating them first sets both. application: every container's stdout/stderr
# (the app's JSON lines); dataplane: kubelet, containerd, aws-node; host: the node's system log.
locals {
  container_log_group_prefix = "/aws/containerinsights/${var.cluster_name}"
  container_log_groups       = toset(["application", "dataplane", "host"])
}

resource "aws_cloudwatch_log_group" "containers" {
  #checkov:skip=CKV_AWS_338:Retention is the container_log_retention_days input (default 30 days): container logs of a small cluster are searched for days, not audited for a year; longer is a cost decision for the operator.
  for_each = local.container_log_groups

  name              = "${local.container_log_group_prefix}/${each.key}"
  retention_in_days = var.container_log_retention_days
  kms_key_id        = aws_kms_key.eks.arn
}
