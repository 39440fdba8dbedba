# Plan-mode tests of the whole stack against a mocked AWS provider: no credentials, no network.
# The provider's schema still comes from the real hashicorp/aws plugin, so a misspelt argument or
# a wrong type fails here as it would in `terraform plan`.

mock_provider "aws" {
  # Make mocked computed values (ids, ARNs, the endpoint) known at plan time, so outputs such
  # as the kubeconfig can be asserted without an apply.
  override_during = plan

  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }

  mock_data "aws_subnet" {
    defaults = {
      vpc_id            = "vpc-0123456789abcdef0"
      availability_zone = "us-east-1a"
    }
  }

  mock_data "aws_eks_addon_version" {
    defaults = {
      version = "v1.0.0-eksbuild.1"
    }
  }
}

# One subnet per availability zone, as the subnets' own data says.
override_data {
  target = data.aws_subnet.private["subnet-0123456789abcdef1"]
  values = {
    vpc_id            = "vpc-0123456789abcdef0"
    availability_zone = "us-east-1b"
  }
}

override_data {
  target = data.aws_subnet.private["subnet-0123456789abcdef2"]
  values = {
    vpc_id            = "vpc-0123456789abcdef0"
    availability_zone = "us-east-1c"
  }
}

# Distinct ARNs, so that wiring a resource to the wrong key or role fails an assertion.
override_resource {
  target          = aws_kms_key.eks
  override_during = plan
  values = {
    arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000e4c5"
  }
}

override_resource {
  target          = aws_iam_role.ebs_csi
  override_during = plan
  values = {
    arn = "arn:aws:iam::111122223333:role/demo-app-ebs-csi-driver"
  }
}

override_resource {
  target          = aws_iam_role.cluster_autoscaler
  override_during = plan
  values = {
    arn = "arn:aws:iam::111122223333:role/demo-app-cluster-autoscaler"
  }
}

override_resource {
  target          = aws_security_group.cluster
  override_during = plan
  values = {
    id = "sg-0c1a5c1a5c1a5c1a5"
  }
}

override_resource {
  target          = aws_security_group.node
  override_during = plan
  values = {
    id = "sg-0a0de0a0de0a0de0a"
  }
}

variables {
  vpc_id = "vpc-0123456789abcdef0"
  private_subnet_ids = [
    "subnet-0123456789abcdef0",
    "subnet-0123456789abcdef1",
    "subnet-0123456789abcdef2",
  ]
  admin_principal_arns = ["arn:aws:iam::111122223333:role/platform-admin"]
}

run "defaults" {
  command = plan

  # --- node group ---
  assert {
    condition     = aws_eks_node_group.default.scaling_config[0].min_size == 2
    error_message = "node group min_size must default to 2"
  }
  assert {
    condition     = aws_eks_node_group.default.scaling_config[0].max_size == 6
    error_message = "node group max_size must default to 6"
  }
  assert {
    condition     = aws_eks_node_group.default.scaling_config[0].desired_size == 2
    error_message = "node group desired_size must default to 2"
  }
  assert {
    condition     = aws_eks_node_group.default.instance_types == tolist(["t3.medium"])
    error_message = "nodes must be t3.medium by default"
  }
  assert {
    condition     = length(aws_eks_node_group.default.remote_access) == 0
    error_message = "the node group must not open SSH (remote_access)"
  }
  assert {
    condition     = aws_eks_node_group.default.tags["k8s.io/cluster-autoscaler/enabled"] == "true" && aws_eks_node_group.default.tags["k8s.io/cluster-autoscaler/demo-app"] == "owned"
    error_message = "the node group must carry Cluster Autoscaler's auto-discovery tags"
  }
  assert {
    condition     = aws_eks_node_group.default.version == "1.35"
    error_message = "nodes must run the cluster's Kubernetes version"
  }

  # --- launch template ---
  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required"
  }
  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "the IMDS hop limit must be 1 so pods cannot reach the node role"
  }
  assert {
    condition     = aws_launch_template.node.key_name == null
    error_message = "the launch template must not set an SSH key"
  }
  assert {
    condition = (
      aws_launch_template.node.block_device_mappings[0].ebs[0].volume_type == "gp3" &&
      aws_launch_template.node.block_device_mappings[0].ebs[0].encrypted == "true"
    )
    error_message = "the root volume must be encrypted gp3"
  }

  # --- security groups ---
  assert {
    condition     = aws_launch_template.node.vpc_security_group_ids == toset(["sg-0a0de0a0de0a0de0a"])
    error_message = "nodes must carry the node security group only"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].security_group_ids == toset(["sg-0c1a5c1a5c1a5c1a5"])
    error_message = "the control plane must carry the cluster security group"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.node_self.security_group_id == "sg-0a0de0a0de0a0de0a" &&
      aws_vpc_security_group_ingress_rule.node_self.referenced_security_group_id == "sg-0a0de0a0de0a0de0a"
    )
    error_message = "node-to-node traffic must be a self-referencing rule"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.cluster_from_nodes.referenced_security_group_id == "sg-0a0de0a0de0a0de0a" &&
      aws_vpc_security_group_ingress_rule.cluster_from_nodes.from_port == 443
    )
    error_message = "nodes must reach the API on 443"
  }
  assert {
    condition = alltrue([
      for r in aws_vpc_security_group_ingress_rule.node_from_cluster :
      r.referenced_security_group_id == "sg-0c1a5c1a5c1a5c1a5" && r.ip_protocol == "tcp"
    ]) && contains([for r in aws_vpc_security_group_ingress_rule.node_from_cluster : r.from_port], 10250)
    error_message = "the control plane must reach the kubelet (10250) and webhooks on nodes, and nothing else may"
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.cluster_from_operators) == 0
    error_message = "no operator range may reach the API unless api_access_cidrs lists it"
  }

  # --- control plane ---
  assert {
    condition     = aws_eks_cluster.this.version == "1.35"
    error_message = "Kubernetes version must default to 1.35"
  }
  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"])
    error_message = "Kubernetes secrets must be encrypted"
  }
  assert {
    condition     = aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == aws_kms_key.eks.arn
    error_message = "secrets must be encrypted with the stack's KMS key"
  }
  assert {
    condition     = aws_kms_key.eks.enable_key_rotation
    error_message = "the KMS key must rotate"
  }
  assert {
    condition     = aws_eks_cluster.this.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "all control-plane log types must be enabled"
  }
  assert {
    condition     = aws_cloudwatch_log_group.cluster.name == "/aws/eks/demo-app/cluster" && aws_cloudwatch_log_group.cluster.kms_key_id == aws_kms_key.eks.arn
    error_message = "the control-plane log group must be the one EKS writes to, KMS-encrypted"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false
    error_message = "there must be no public endpoint by default"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
    error_message = "the private endpoint must be on"
  }
  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "STANDARD"
    error_message = "upgrade policy must be STANDARD"
  }
  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API" && aws_eks_cluster.this.access_config[0].bootstrap_cluster_creator_admin_permissions == false
    error_message = "access must come from access entries only"
  }
  assert {
    condition     = toset(keys(aws_eks_access_policy_association.admin)) == toset(["arn:aws:iam::111122223333:role/platform-admin"])
    error_message = "the admin role must get an access policy association"
  }
  assert {
    condition     = one(values(aws_eks_access_policy_association.admin)).policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    error_message = "the admin role must be cluster admin"
  }

  # --- add-ons ---
  assert {
    condition = toset(concat(
      [for a in aws_eks_addon.before_nodes : a.addon_name],
      [for a in aws_eks_addon.after_nodes : a.addon_name],
    )) == toset(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "metrics-server"])
    error_message = "the add-on set must be vpc-cni, coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver, metrics-server"
  }
  assert {
    condition     = jsondecode(aws_eks_addon.before_nodes["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "vpc-cni must enforce NetworkPolicy"
  }
  assert {
    condition     = aws_eks_addon.before_nodes["vpc-cni"].addon_version == "v1.0.0-eksbuild.1"
    error_message = "add-on versions must come from aws_eks_addon_version"
  }

  # --- Pod Identity ---
  assert {
    condition = (
      aws_eks_pod_identity_association.this["ebs-csi-driver"].service_account == "ebs-csi-controller-sa" &&
      aws_eks_pod_identity_association.this["ebs-csi-driver"].role_arn == aws_iam_role.ebs_csi.arn
    )
    error_message = "the EBS CSI controller must get its role through Pod Identity"
  }
  assert {
    condition = (
      aws_eks_pod_identity_association.this["cluster-autoscaler"].namespace == "kube-system" &&
      aws_eks_pod_identity_association.this["cluster-autoscaler"].service_account == "cluster-autoscaler" &&
      aws_eks_pod_identity_association.this["cluster-autoscaler"].role_arn == aws_iam_role.cluster_autoscaler.arn
    )
    error_message = "Cluster Autoscaler must get its role through Pod Identity"
  }
  assert {
    condition     = jsondecode(aws_iam_role.cluster_autoscaler.assume_role_policy).Statement[0].Principal.Service == "pods.eks.amazonaws.com"
    error_message = "pod roles must trust EKS Pod Identity"
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.cluster_autoscaler.policy).Statement :
      s.Condition["StringEquals"]["aws:ResourceTag/k8s.io/cluster-autoscaler/demo-app"] == "owned"
      if contains(flatten([s.Action]), "autoscaling:SetDesiredCapacity")
    ])
    error_message = "Cluster Autoscaler may scale only this cluster's Auto Scaling groups"
  }

  # --- ECR ---
  assert {
    condition = (
      aws_ecr_repository.app.image_tag_mutability == "IMMUTABLE" &&
      aws_ecr_repository.app.image_scanning_configuration[0].scan_on_push &&
      aws_ecr_repository.app.encryption_configuration[0].encryption_type == "KMS"
    )
    error_message = "the ECR repository must have immutable tags, scan on push and KMS encryption"
  }
  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.app.policy).rules : r.selection.countNumber] == [1, 30]
    error_message = "the lifecycle policy must expire untagged images after a day and keep 30 tagged ones"
  }
}

run "kubeconfig_uses_aws_eks_get_token" {
  command = plan

  override_resource {
    target          = aws_eks_cluster.this
    override_during = plan
    values = {
      endpoint              = "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
      certificate_authority = [{ data = "Q0EtREFUQQ==" }]
    }
  }

  assert {
    condition     = yamldecode(output.kubeconfig).clusters[0].cluster.server == "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com"
    error_message = "the kubeconfig must point at the cluster endpoint"
  }
  assert {
    condition     = yamldecode(output.kubeconfig).clusters[0].cluster["certificate-authority-data"] == "Q0EtREFUQQ=="
    error_message = "the kubeconfig must carry the cluster CA"
  }
  assert {
    condition = (
      yamldecode(output.kubeconfig).users[0].user.exec.command == "aws" &&
      yamldecode(output.kubeconfig).users[0].user.exec.args == ["--region", "us-east-1", "eks", "get-token", "--cluster-name", "demo-app", "--output", "json"]
    )
    error_message = "the kubeconfig must authenticate with `aws eks get-token` for this cluster and region"
  }
  assert {
    condition     = output.cluster_endpoint == "https://EXAMPLE.gr7.us-east-1.eks.amazonaws.com" && output.cluster_certificate_authority_data == "Q0EtREFUQQ=="
    error_message = "endpoint and CA outputs must come from the cluster"
  }
}

run "public_endpoint_only_when_cidrs_given" {
  command = plan

  variables {
    public_access_cidrs = ["203.0.113.0/24"]
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == true
    error_message = "listing public_access_cidrs must enable the public endpoint"
  }
  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].public_access_cidrs == toset(["203.0.113.0/24"])
    error_message = "the public endpoint must be limited to the listed CIDRs"
  }
}

run "operator_cidrs_reach_private_endpoint" {
  command = plan

  variables {
    api_access_cidrs = ["10.8.0.0/16"]
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.cluster_from_operators["10.8.0.0/16"].from_port == 443
    error_message = "operator CIDRs must be allowed to the API on 443"
  }
}
