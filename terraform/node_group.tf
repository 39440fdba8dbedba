# ---------------------------------------------------------------------------------------------
# Managed node groups (one per availability zone) and their launch template
# ---------------------------------------------------------------------------------------------
resource "aws_launch_template" "node" {
  name_prefix = "${var.cluster_name}-node-"
  description = "Nodes of EKS ${var.cluster_name}: IMDSv2 only, encrypted gp3 root volume, no SSH"

  # No image_id (EKS supplies the AL2023 AMI and its bootstrap user data, and computes the
  # kubelet's max pods from the instance type's ENI limits) and no key_name: there is no SSH;
  # operators use SSM Session Manager (the AMI ships the agent; the node role grants it).
  vpc_security_group_ids = [aws_security_group.node.id]
  update_default_version = true

  metadata_options {
    http_endpoint = "enabled"
    # IMDSv2 only, and hop limit 1 so that pods (one hop further) cannot read the node role's
    # credentials; pods get their own through Pod Identity.
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = var.node_volume_size_gib
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = false # detailed (1-minute) EC2 monitoring: Prometheus already scrapes the nodes
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-node" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-node" })
  }
}

# One group per zone, not one group over all zones: Prometheus' and Alertmanager's gp3 volumes
# are zonal, and Cluster Autoscaler can only add a node in a chosen zone when every group lives
# in one zone (cluster-autoscaler/cloudprovider/aws/README.md, "Common Notes and Gotchas":
# one node group per AZ for workloads with zonal persistent volumes; balance-similar-node-groups
# keeps the groups even). Every group has min >= 1, so each zone always has a node for its
# volumes; the groups' bounds add up to node_scaling.
resource "aws_eks_node_group" "zone" {
  for_each = local.subnets_by_az

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = "${var.cluster_name}-${each.key}"
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = each.value
  version         = aws_eks_cluster.this.version

  ami_type       = "AL2023_x86_64_STANDARD"
  capacity_type  = "ON_DEMAND"
  instance_types = [var.node_instance_type]

  scaling_config {
    min_size     = local.node_group_scaling[each.key].min_size
    desired_size = local.node_group_scaling[each.key].desired_size
    max_size     = local.node_group_scaling[each.key].max_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  tags = local.autoscaler_discovery_tags

  lifecycle {
    # Cluster Autoscaler owns the desired count once the group exists.
    ignore_changes = [scaling_config[0].desired_size]
  }

  # Node permissions before nodes boot (and removed only after them); the CNI, kube-proxy and
  # the Pod Identity agent (DaemonSets) before nodes, so nodes become Ready with the managed
  # add-on's configuration (network policy on) from the start.
  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
  ]
}
