# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API (private unless public_access_cidrs is set)."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded PEM of the cluster's certificate authority."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group on the control-plane ENIs: add an ingress rule on 443 from a bastion's or VPN's security group here."
  value       = aws_security_group.cluster.id
}

output "kubernetes_version" {
  description = "Kubernetes minor version of the cluster, e.g. \"1.35\" (Cluster Autoscaler's minor must match)."
  value       = aws_eks_cluster.this.version
}

output "region" {
  description = "AWS region of the cluster."
  value       = var.region
}

output "node_role_arn" {
  description = "ARN of the IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "node_security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.node.id
}

output "ecr_repository_url" {
  description = "URL of the app image repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  value       = aws_ecr_repository.app.repository_url
}

output "cluster_autoscaler_role_arn" {
  description = "IAM role Cluster Autoscaler receives through Pod Identity."
  value       = aws_iam_role.cluster_autoscaler.arn
}

output "cluster_autoscaler_service_account" {
  description = "Namespace and name the Cluster Autoscaler Helm release must use for its service account."
  value       = var.cluster_autoscaler_service_account
}

output "kubeconfig" {
  description = "kubeconfig for the cluster, authenticating with `aws eks get-token` (no secret inside): terraform output -raw kubeconfig > ~/.kube/demo-app"
  value = templatefile("${path.module}/kubeconfig.tpl", {
    cluster_name               = aws_eks_cluster.this.name
    endpoint                   = aws_eks_cluster.this.endpoint
    certificate_authority_data = aws_eks_cluster.this.certificate_authority[0].data
    region                     = var.region
  })
}

output "node_groups" {
  description = "Managed node group per availability zone, with its scaling bounds: {\"us-east-1a\" = {name, min_size, max_size}, ...}."
  value = {
    for az, g in aws_eks_node_group.zone : az => {
      name     = g.node_group_name
      min_size = g.scaling_config[0].min_size
      max_size = g.scaling_config[0].max_size
    }
  }
}

output "container_log_groups" {
  description = "CloudWatch log groups Fluent Bit writes container logs to (application = every container's stdout)."
  value       = { for k, g in aws_cloudwatch_log_group.containers : k => g.name }
}

output "amp_remote_write_url" {
  description = "Prometheus remote-write URL of the AMP workspace (monitoring/values-amp.yaml), or null when amp_remote_write is off."
  value       = var.amp_remote_write ? "${aws_prometheus_workspace.this[0].prometheus_endpoint}api/v1/remote_write" : null
}
