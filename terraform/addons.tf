# ---------------------------------------------------------------------------------------------
# EKS add-ons and Pod Identity associations
# ---------------------------------------------------------------------------------------------
locals {
  # The Kubernetes versions this stack supports, each with its end of EKS standard support (EKS
  # Kubernetes release calendar) and the add-on versions pinned for it. Pinned, not EKS's
  # current default: a plan never moves an add-on by itself, and raising kubernetes_version
  # moves them together. Before adding a version or raising a pin, list what EKS offers with
  # `aws eks describe-addon-versions --kubernetes-version 1.NN --addon-name NAME`; the check
  # "addon_pins_match_eks_defaults" below warns at plan time when EKS's default differs.
  kubernetes_versions = {
    "1.34" = {
      end_of_standard_support = "2026-12-02"
      addons = {
        vpc-cni                         = "v1.20.4-eksbuild.1"
        kube-proxy                      = "v1.34.1-eksbuild.2"
        eks-pod-identity-agent          = "v1.3.9-eksbuild.3"
        coredns                         = "v1.12.4-eksbuild.1"
        aws-ebs-csi-driver              = "v1.52.1-eksbuild.1"
        metrics-server                  = "v0.8.0-eksbuild.2"
        amazon-cloudwatch-observability = "v4.6.0-eksbuild.1"
      }
    }
    "1.35" = {
      end_of_standard_support = "2027-03-27"
      addons = {
        vpc-cni                         = "v1.21.1-eksbuild.1"
        kube-proxy                      = "v1.35.0-eksbuild.2"
        eks-pod-identity-agent          = "v1.3.10-eksbuild.1"
        coredns                         = "v1.13.1-eksbuild.1"
        aws-ebs-csi-driver              = "v1.53.0-eksbuild.1"
        metrics-server                  = "v0.8.0-eksbuild.5"
        amazon-cloudwatch-observability = "v4.7.0-eksbuild.1"
      }
    }
  }

  addon_versions = local.kubernetes_versions[var.kubernetes_version].addons

  # DaemonSets the nodes need to become Ready: installed before the node groups.
  addons_before_nodes = {
    vpc-cni = {
      # Network policy enforcement (the eBPF node agent), so the NetworkPolicy in k8s/ takes
      # effect; without it the VPC CNI accepts NetworkPolicy objects and ignores them. No prefix
      # delegation: the instance type gives the pod slots (docs/eks-terraform.md, "Zones and capacity").
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    kube-proxy = {
      configuration_values = null
    }
    eks-pod-identity-agent = {
      configuration_values = null
    }
  }

  # Deployments that need nodes to schedule on: installed after the node groups (an add-on
  # waits to be ACTIVE, which a Deployment without nodes never is).
  addons_after_nodes = {
    coredns = {
      configuration_values = null
    }
    # Prometheus and Alertmanager keep their data on EBS gp3 volumes.
    aws-ebs-csi-driver = {
      configuration_values = null
    }
    # EKS does not install metrics-server; the HPA needs it.
    metrics-server = {
      configuration_values = jsonencode(local.metrics_server_configuration)
    }
    # Container logs to CloudWatch Logs: Fluent Bit (a DaemonSet) tails every container's
    # stdout into /aws/containerinsights/<cluster>/application (logs.tf sets retention and
    # encryption). The CloudWatch agent runs with Application Signals only, i.e. without
    # Container Insights metrics: Prometheus has the metrics, and Container Insights would
    # bill them again as custom metrics.
    amazon-cloudwatch-observability = {
      configuration_values = jsonencode({
        containerLogs = { enabled = true }
        agent = {
          config = {
            logs = { metrics_collected = { application_signals = {} } }
          }
        }
      })
    }
  }

  # metrics-server: the requests of its chart's defaults (100m / 200Mi, sized by upstream for
  # about 100 nodes), a memory limit at twice that, and system-cluster-critical so that it is
  # scheduled (and kept) before ordinary pods: without it the HPA stops scaling.
  metrics_server_configuration = {
    priorityClassName = "system-cluster-critical"
    resources = {
      requests = { cpu = "100m", memory = "200Mi" }
      limits   = { memory = "400Mi" }
    }
  }

  addons = merge(local.addons_before_nodes, local.addons_after_nodes)

  # Pod Identity: Kubernetes service account -> IAM role (the trust policies in main.tf admit
  # only these subjects).
  pod_identity_roles = merge(
    {
      ebs-csi-driver     = aws_iam_role.ebs_csi.arn
      cluster-autoscaler = aws_iam_role.cluster_autoscaler.arn
      cloudwatch-agent   = aws_iam_role.cloudwatch_agent.arn
    },
    var.amp_remote_write ? { prometheus = aws_iam_role.prometheus_remote_write[0].arn } : {},
  )
  pod_identities = {
    for key, subject in local.pod_identity_subjects : key => merge(subject, { role_arn = local.pod_identity_roles[key] })
  }
}

# EKS's default version of each add-on for this Kubernetes version: compared with the pins only.
data "aws_eks_addon_version" "this" {
  for_each = local.addons

  addon_name         = each.key
  kubernetes_version = var.kubernetes_version
}

check "addon_pins_match_eks_defaults" {
  assert {
    condition     = alltrue([for name, d in data.aws_eks_addon_version.this : d.version == local.addon_versions[name]])
    error_message = "EKS's default add-on versions for ${var.kubernetes_version} differ from the pins in addons.tf: ${join(", ", [for name, d in data.aws_eks_addon_version.this : "${name} ${local.addon_versions[name]} -> ${d.version}" if d.version != local.addon_versions[name]])}. Test the newer versions, then raise the pins."
  }
}

check "kubernetes_version_in_standard_support" {
  assert {
    condition     = timecmp(plantimestamp(), "${local.kubernetes_versions[var.kubernetes_version].end_of_standard_support}T00:00:00Z") < 0
    error_message = "Kubernetes ${var.kubernetes_version} left EKS standard support on ${local.kubernetes_versions[var.kubernetes_version].end_of_standard_support}: EKS upgrades the cluster (upgrade policy STANDARD). Raise kubernetes_version."
  }
}

resource "aws_eks_addon" "before_nodes" {
  for_each = local.addons_before_nodes

  cluster_name         = aws_eks_cluster.this.name
  addon_name           = each.key
  addon_version        = local.addon_versions[each.key]
  configuration_values = each.value.configuration_values

  # EKS pre-installs vpc-cni, kube-proxy and coredns unmanaged: take them over on create. On
  # update, PRESERVE keeps a field someone changed in the cluster (an emergency fix, a tuned
  # value) instead of silently overwriting it.
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
}

resource "aws_eks_addon" "after_nodes" {
  for_each = local.addons_after_nodes

  cluster_name         = aws_eks_cluster.this.name
  addon_name           = each.key
  addon_version        = local.addon_versions[each.key]
  configuration_values = each.value.configuration_values

  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"

  # The EBS CSI controller and the CloudWatch agent must find their Pod Identity associations
  # (and the agent) at start; Fluent Bit must find its log groups with their retention.
  depends_on = [
    aws_eks_node_group.zone,
    aws_eks_pod_identity_association.this,
    aws_cloudwatch_log_group.containers,
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
