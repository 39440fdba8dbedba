# ---------------------------------------------------------------------------------------------
# Amazon Managed Service for Prometheus (optional scale-out path, amp_remote_write)
# ---------------------------------------------------------------------------------------------
# The in-cluster Prometheus pair keeps scraping, alerting and serving Grafana; remote write adds
# a copy of every sample in AMP for long retention and for more series than one pair holds
# (docs/eks-terraform.md, "Scale-out"). The role and its Pod Identity association are in
# iam.tf and addons.tf; monitoring/values-amp.yaml is the Prometheus side.
resource "aws_prometheus_workspace" "this" {
  count = var.amp_remote_write ? 1 : 0

  # Encrypted at rest with an AWS-owned key: a customer key would need a grant for AMP in the
  # key policy and buys nothing here (the samples are the same metrics Prometheus holds on gp3).
  alias = var.cluster_name
}
