# ---------------------------------------------------------------------------------------------
# EKS add-ons and Pod Identity associations
# ---------------------------------------------------------------------------------------------
locals {
  # DaemonSets the nodes need to become Ready: installed before the node group.
  addons_before_nodes = {
    vpc-cni = {
      # Network policy enforcement (the eBPF node agent), so the NetworkPolicy in k8s/ takes
      # effect; without it the VPC CNI accepts NetworkPolicy objects and ignores them.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    kube-proxy = {
      configuration_values = null
    }
    eks-pod-identity-agent = {
      configuration_values = null
    }
  }

  # Deployments that need nodes to schedule on: installed after the node group (an add-on
  # waits to be ACTIVE, which a Deployment without nodes never is).
  addons_after_nodes = {
    coredns = {
      configuration_values = null
    }
    # Prometheus and Alertmanager keep their data on EBS gp3 volumes.
    aws-ebs-csi-driver = {
      configuration_values = null
    }
    # EKS does not install metrics-server; the HorizontalPodAutoscaler needs it.
    metrics-server = {
      configuration_values = null
    }
  }

  addons = merge(local.addons_before_nodes, local.addons_after_nodes)

  # Pod Identity: Kubernetes service account -> IAM role.
  pod_identities = {
    ebs-csi-driver = {
      namespace       = "kube-system"
      service_account = "ebs-csi-controller-sa" # fixed by the aws-ebs-csi-driver add-on
      role_arn        = aws_iam_role.ebs_csi.arn
    }
    cluster-autoscaler = {
      namespace       = var.cluster_autoscaler_service_account.namespace
      service_account = var.cluster_autoscaler_service_account.name
      role_arn        = aws_iam_role.cluster_autoscaler.arn
    }
  }
}

# The default version EKS publishes for this Kubernetes version: raising kubernetes_version
# moves the add-ons along with it.
data "aws_eks_addon_version" "this" {
  for_each = local.addons

  addon_name         = each.key
  kubernetes_version = var.kubernetes_version
}

resource "aws_eks_addon" "before_nodes" {
  for_each = local.addons_before_nodes

  cluster_name         = aws_eks_cluster.this.name
  addon_name           = each.key
  addon_version        = data.aws_eks_addon_version.this[each.key].version
  configuration_values = each.value.configuration_values

  # EKS pre-installs vpc-cni, kube-proxy and coredns unmanaged; take them over.
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "after_nodes" {
  for_each = local.addons_after_nodes

  cluster_name         = aws_eks_cluster.this.name
  addon_name           = each.key
  addon_version        = data.aws_eks_addon_version.this[each.key].version
  configuration_values = each.value.configuration_values

  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  # The EBS CSI controller must find its Pod Identity association (and the agent) at start.
  depends_on = [
    aws_eks_node_group.default,
    aws_eks_pod_identity_association.this,
  ]
}

resource "aws_eks_pod_identity_association" "this" {
  for_each = local.pod_identities

  cluster_name    = aws_eks_cluster.this.name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = each.value.role_arn

  depends_on = [aws_eks_addon.before_nodes]
}
