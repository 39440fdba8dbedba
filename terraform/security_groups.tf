# ---------------------------------------------------------------------------------------------
# Security groups: control plane <-> nodes, node <-> node
# ---------------------------------------------------------------------------------------------
# EKS also creates its own "cluster security group" for the control-plane ENIs. These two groups
# are the explicit, reviewable rules: the cluster group is added to the control-plane ENIs, the
# node group to the nodes (through the launch template, which replaces EKS's default choice).

resource "aws_security_group" "cluster" {
  name_prefix = "${var.cluster_name}-cluster-"
  description = "EKS ${var.cluster_name} control plane: API access from nodes and operators"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "node" {
  name_prefix = "${var.cluster_name}-node-"
  description = "EKS ${var.cluster_name} nodes: node-to-node and control-plane traffic"
  vpc_id      = var.vpc_id

  tags = {
    # The AWS load balancer integration picks the node group by this tag.
    "kubernetes.io/cluster/${var.cluster_name}" = "owned"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# --- control plane -----------------------------------------------------------------------------
resource "aws_vpc_security_group_ingress_rule" "cluster_from_nodes" {
  security_group_id            = aws_security_group.cluster.id
  description                  = "Kubernetes API from nodes (kubelet, pods)"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_ingress_rule" "cluster_from_operators" {
  for_each = toset(var.api_access_cidrs)

  security_group_id = aws_security_group.cluster.id
  description       = "Kubernetes API from operators (VPN, bastion or SSM host range)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "cluster_to_nodes" {
  for_each = local.control_plane_to_node_ports

  security_group_id            = aws_security_group.cluster.id
  description                  = "Control plane to nodes: ${each.value.description}"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
}

# --- nodes -------------------------------------------------------------------------------------
locals {
  # What the control plane opens towards nodes: the kubelet, and admission/aggregated-API
  # webhooks served by pods (metrics-server on 10250, or 10251 in the EKS community add-on;
  # the Prometheus operator on 10250; others on 443/4443/6443/8443/9443).
  control_plane_to_node_ports = {
    https    = { from = 443, to = 443, description = "webhooks on 443" }
    kubelet  = { from = 10250, to = 10251, description = "kubelet API, metrics-server, operators" }
    webhooks = { from = 4443, to = 9443, description = "webhooks and aggregated APIs on 4443-9443" }
  }
}

resource "aws_vpc_security_group_ingress_rule" "node_from_cluster" {
  for_each = local.control_plane_to_node_ports

  security_group_id            = aws_security_group.node.id
  description                  = "From the control plane: ${each.value.description}"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
}

# Self-referencing: pod-to-pod across nodes (VPC CNI gives pods node-ENI addresses), CoreDNS,
# Prometheus scraping every node. NetworkPolicy (enforced by the VPC CNI) narrows this per pod.
resource "aws_vpc_security_group_ingress_rule" "node_self" {
  security_group_id            = aws_security_group.node.id
  description                  = "Node to node, all protocols (pod traffic; NetworkPolicy narrows it)"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "node_self" {
  security_group_id            = aws_security_group.node.id
  description                  = "Node to node, all protocols"
  referenced_security_group_id = aws_security_group.node.id
  ip_protocol                  = "-1"
}

resource "aws_vpc_security_group_egress_rule" "node_to_cluster" {
  security_group_id            = aws_security_group.node.id
  description                  = "Nodes to the Kubernetes API"
  referenced_security_group_id = aws_security_group.cluster.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

# HTTPS out: ECR/S3 image pulls, STS, EC2 and EKS APIs (through NAT or VPC endpoints), and
# Alertmanager's receivers. Security groups do not filter traffic to the Amazon DNS resolver,
# Amazon Time Sync or the instance metadata service, so no rule is needed for those.
resource "aws_vpc_security_group_egress_rule" "node_https" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to AWS APIs, registries and alert receivers"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
