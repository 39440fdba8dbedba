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
# EKS's default add-on versions equal the 1.35 pins (addons.tf), so the pin check passes.
override_data {
  target = data.aws_eks_addon_version.this["vpc-cni"]
  values = {
    version = "v1.21.1-eksbuild.1"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["kube-proxy"]
  values = {
    version = "v1.35.0-eksbuild.2"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["eks-pod-identity-agent"]
  values = {
    version = "v1.3.10-eksbuild.1"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["coredns"]
  values = {
    version = "v1.13.1-eksbuild.1"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["aws-ebs-csi-driver"]
  values = {
    version = "v1.53.0-eksbuild.1"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["metrics-server"]
  values = {
    version = "v0.8.0-eksbuild.5"
  }
}

override_data {
  target = data.aws_eks_addon_version.this["amazon-cloudwatch-observability"]
  values = {
    version = "v4.7.0-eksbuild.1"
  }
}

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
  target          = aws_iam_role.cloudwatch_agent
  override_during = plan
  values = {
    arn = "arn:aws:iam::111122223333:role/demo-app-cloudwatch-agent"
  }
}

override_resource {
  target          = aws_launch_template.node
  override_during = plan
  values = {
    id = "lt-0123456789abcdef0"
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

  # --- node groups: one per zone ---
  assert {
    condition     = toset(keys(aws_eks_node_group.zone)) == toset(["us-east-1a", "us-east-1b", "us-east-1c"])
    error_message = "there must be one node group per availability zone"
  }
  assert {
    condition = alltrue([
      for az, g in aws_eks_node_group.zone : length(g.subnet_ids) == 1 && data.aws_subnet.private[one(g.subnet_ids)].availability_zone == az
    ])
    error_message = "each node group must use only its own zone's subnet"
  }
  assert {
    condition = (
      sum([for g in aws_eks_node_group.zone : g.scaling_config[0].min_size]) == 3 &&
      sum([for g in aws_eks_node_group.zone : g.scaling_config[0].desired_size]) == 3 &&
      sum([for g in aws_eks_node_group.zone : g.scaling_config[0].max_size]) == 6
    )
    error_message = "the groups' bounds must add up to the cluster's default 3 / 3 / 6"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.zone : g.scaling_config[0].min_size == 1 && g.scaling_config[0].max_size == 2])
    error_message = "every zone must have min 1 (a node for its zonal volumes) and max 2 by default"
  }
  assert {
    condition = alltrue([
      for g in aws_eks_node_group.zone : g.instance_types == tolist(["t3.large"]) && g.ami_type == "AL2023_x86_64_STANDARD" && g.launch_template[0].id == aws_launch_template.node.id
    ])
    error_message = "every group must launch the same nodes: t3.large, AL2023, the shared launch template"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.zone : length(g.remote_access) == 0])
    error_message = "no node group may open SSH (remote_access)"
  }
  assert {
    condition = alltrue([
      for g in aws_eks_node_group.zone : g.tags["k8s.io/cluster-autoscaler/enabled"] == "true" && g.tags["k8s.io/cluster-autoscaler/demo-app"] == "owned"
    ])
    error_message = "every node group must carry Cluster Autoscaler's auto-discovery tags"
  }
  assert {
    condition     = alltrue([for g in aws_eks_node_group.zone : g.version == "1.35"])
    error_message = "nodes must run the cluster's Kubernetes version"
  }
  assert {
    condition     = output.node_groups["us-east-1b"].name == "demo-app-us-east-1b"
    error_message = "node groups must be named after cluster and zone"
  }
  assert {
    condition     = aws_iam_role_policy_attachment.node["AmazonSSMManagedInstanceCore"].policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    error_message = "the node role must grant SSM Session Manager (the launch template promises it)"
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
    )) == toset(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "metrics-server", "amazon-cloudwatch-observability"])
    error_message = "the add-on set must be vpc-cni, coredns, kube-proxy, eks-pod-identity-agent, aws-ebs-csi-driver, metrics-server, amazon-cloudwatch-observability"
  }
  assert {
    condition     = jsondecode(aws_eks_addon.before_nodes["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "vpc-cni must enforce NetworkPolicy"
  }
  assert {
    condition = (
      aws_eks_addon.before_nodes["vpc-cni"].addon_version == "v1.21.1-eksbuild.1" &&
      aws_eks_addon.before_nodes["kube-proxy"].addon_version == "v1.35.0-eksbuild.2" &&
      aws_eks_addon.after_nodes["coredns"].addon_version == "v1.13.1-eksbuild.1"
    )
    error_message = "add-on versions must be the pins for 1.35, not EKS's moving default"
  }
  assert {
    condition = alltrue(concat(
      [for a in aws_eks_addon.before_nodes : a.resolve_conflicts_on_update == "PRESERVE"],
      [for a in aws_eks_addon.after_nodes : a.resolve_conflicts_on_update == "PRESERVE"],
    ))
    error_message = "add-on updates must PRESERVE changes made in the cluster, not overwrite them"
  }
  assert {
    condition     = jsondecode(aws_eks_addon.after_nodes["metrics-server"].configuration_values).priorityClassName == "system-cluster-critical"
    error_message = "metrics-server (the HPA's source) must run as system-cluster-critical"
  }
  assert {
    condition = (
      jsondecode(aws_eks_addon.after_nodes["metrics-server"].configuration_values).resources.requests == { cpu = "100m", memory = "200Mi" } &&
      jsondecode(aws_eks_addon.after_nodes["metrics-server"].configuration_values).resources.limits == { memory = "400Mi" }
    )
    error_message = "metrics-server must request 100m / 200Mi and be limited to 400Mi of memory"
  }
  assert {
    condition     = jsondecode(aws_eks_addon.after_nodes["amazon-cloudwatch-observability"].configuration_values).containerLogs.enabled == true
    error_message = "the CloudWatch Observability add-on must ship container logs"
  }
  assert {
    condition     = keys(jsondecode(aws_eks_addon.after_nodes["amazon-cloudwatch-observability"].configuration_values).agent.config.logs.metrics_collected) == ["application_signals"]
    error_message = "the CloudWatch agent must not collect Container Insights metrics (Prometheus has them)"
  }

  # --- container logs ---
  assert {
    condition = (
      toset([for g in aws_cloudwatch_log_group.containers : g.name]) == toset(["/aws/containerinsights/demo-app/application", "/aws/containerinsights/demo-app/dataplane", "/aws/containerinsights/demo-app/host"]) &&
      alltrue([for g in aws_cloudwatch_log_group.containers : g.retention_in_days == 30 && g.kms_key_id == aws_kms_key.eks.arn])
    )
    error_message = "Fluent Bit's log groups must exist with 30 days' retention, KMS-encrypted"
  }
  assert {
    condition = contains(
      [for s in jsondecode(aws_kms_key.eks.policy).Statement : s.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"] if s.Sid == "ClusterLogGroups"][0],
      "arn:aws:logs:us-east-1:111122223333:log-group:/aws/containerinsights/demo-app/*",
    )
    error_message = "the key policy must let CloudWatch Logs encrypt the container log groups"
  }
  assert {
    condition     = aws_iam_role_policy_attachment.cloudwatch_agent.policy_arn == "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    error_message = "the CloudWatch agent role must carry CloudWatchAgentServerPolicy"
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
    condition = (
      aws_eks_pod_identity_association.this["cloudwatch-agent"].namespace == "amazon-cloudwatch" &&
      aws_eks_pod_identity_association.this["cloudwatch-agent"].service_account == "cloudwatch-agent" &&
      aws_eks_pod_identity_association.this["cloudwatch-agent"].role_arn == aws_iam_role.cloudwatch_agent.arn
    )
    error_message = "the CloudWatch agent and Fluent Bit must get their role through Pod Identity"
  }
  assert {
    condition = alltrue([
      for role in [aws_iam_role.ebs_csi, aws_iam_role.cluster_autoscaler, aws_iam_role.cloudwatch_agent] :
      jsondecode(role.assume_role_policy).Statement[0].Principal.Service == "pods.eks.amazonaws.com"
    ])
    error_message = "pod roles must trust EKS Pod Identity"
  }
  assert {
    condition = alltrue([
      for key, a in aws_eks_pod_identity_association.this : (
        jsondecode(local.pod_identity_trust_policies[key]).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-namespace"] == a.namespace &&
        jsondecode(local.pod_identity_trust_policies[key]).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == a.service_account &&
        jsondecode(local.pod_identity_trust_policies[key]).Statement[0].Condition.StringEquals["aws:RequestTag/eks-cluster-name"] == "demo-app" &&
        jsondecode(local.pod_identity_trust_policies[key]).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "111122223333"
      )
    ])
    error_message = "every pod role's trust policy must admit only its association's namespace and service account in this cluster"
  }
  assert {
    condition = (
      jsondecode(aws_iam_role.cluster_autoscaler.assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "cluster-autoscaler" &&
      jsondecode(aws_iam_role.ebs_csi.assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "ebs-csi-controller-sa"
    )
    error_message = "each role must carry its own subject's trust policy, not another role's"
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.cluster_autoscaler.policy).Statement :
      s.Condition["StringEquals"]["aws:ResourceTag/k8s.io/cluster-autoscaler/demo-app"] == "owned"
      if contains(flatten([s.Action]), "autoscaling:SetDesiredCapacity")
    ])
    error_message = "Cluster Autoscaler may scale only this cluster's Auto Scaling groups"
  }

  # --- AMP: off by default ---
  assert {
    condition     = length(aws_prometheus_workspace.this) == 0 && length(aws_iam_role.prometheus_remote_write) == 0 && !contains(keys(aws_eks_pod_identity_association.this), "prometheus")
    error_message = "no AMP workspace, role or association unless amp_remote_write is on"
  }
  assert {
    condition     = output.amp_remote_write_url == null
    error_message = "amp_remote_write_url must be null while AMP is off"
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

run "amp_remote_write_on" {
  command = plan

  variables {
    amp_remote_write = true
  }

  override_resource {
    target          = aws_prometheus_workspace.this
    override_during = plan
    values = {
      arn                 = "arn:aws:aps:us-east-1:111122223333:workspace/ws-00000000-0000-0000-0000-000000000a3f"
      prometheus_endpoint = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-00000000-0000-0000-0000-000000000a3f/"
    }
  }

  override_resource {
    target          = aws_iam_role.prometheus_remote_write
    override_during = plan
    values = {
      arn = "arn:aws:iam::111122223333:role/demo-app-prometheus-amp"
    }
  }

  assert {
    condition     = aws_prometheus_workspace.this[0].alias == "demo-app"
    error_message = "amp_remote_write must create the cluster's AMP workspace"
  }
  assert {
    condition = (
      aws_eks_pod_identity_association.this["prometheus"].namespace == "monitoring" &&
      aws_eks_pod_identity_association.this["prometheus"].service_account == "kube-prometheus-stack-prometheus" &&
      aws_eks_pod_identity_association.this["prometheus"].role_arn == "arn:aws:iam::111122223333:role/demo-app-prometheus-amp"
    )
    error_message = "Prometheus' service account must get the remote-write role through Pod Identity"
  }
  assert {
    condition = (
      jsondecode(aws_iam_role.prometheus_remote_write[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-namespace"] == "monitoring" &&
      jsondecode(aws_iam_role.prometheus_remote_write[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "kube-prometheus-stack-prometheus"
    )
    error_message = "the remote-write role must trust Prometheus' service account only"
  }
  assert {
    condition = (
      jsondecode(aws_iam_role_policy.prometheus_remote_write[0].policy).Statement[0].Action == ["aps:RemoteWrite"] &&
      jsondecode(aws_iam_role_policy.prometheus_remote_write[0].policy).Statement[0].Resource == "arn:aws:aps:us-east-1:111122223333:workspace/ws-00000000-0000-0000-0000-000000000a3f"
    )
    error_message = "Prometheus may only remote-write, and only to this workspace"
  }
  assert {
    condition     = output.amp_remote_write_url == "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-00000000-0000-0000-0000-000000000a3f/api/v1/remote_write"
    error_message = "amp_remote_write_url must be the workspace's remote-write endpoint"
  }
}

# Four zones and uneven totals: the remainder goes to the first zones, the sums stay exact.
run "node_groups_split_over_four_zones" {
  command = plan

  variables {
    private_subnet_ids = [
      "subnet-0123456789abcdef0",
      "subnet-0123456789abcdef1",
      "subnet-0123456789abcdef2",
      "subnet-0123456789abcdef3",
      "subnet-0123456789abcdef4",
    ]
    node_scaling = { min_size = 5, desired_size = 6, max_size = 10 }
  }

  # Two subnets in us-east-1d: they share that zone's group.
  override_data {
    target = data.aws_subnet.private["subnet-0123456789abcdef3"]
    values = {
      vpc_id            = "vpc-0123456789abcdef0"
      availability_zone = "us-east-1d"
    }
  }
  override_data {
    target = data.aws_subnet.private["subnet-0123456789abcdef4"]
    values = {
      vpc_id            = "vpc-0123456789abcdef0"
      availability_zone = "us-east-1d"
    }
  }

  assert {
    condition     = toset(keys(aws_eks_node_group.zone)) == toset(["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"])
    error_message = "one node group per zone, not per subnet"
  }
  assert {
    condition     = aws_eks_node_group.zone["us-east-1d"].subnet_ids == toset(["subnet-0123456789abcdef3", "subnet-0123456789abcdef4"])
    error_message = "a zone's group must use all of that zone's subnets"
  }
  assert {
    condition = (
      [for az in ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] : aws_eks_node_group.zone[az].scaling_config[0].min_size] == [2, 1, 1, 1] &&
      [for az in ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] : aws_eks_node_group.zone[az].scaling_config[0].desired_size] == [2, 2, 1, 1] &&
      [for az in ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] : aws_eks_node_group.zone[az].scaling_config[0].max_size] == [3, 3, 2, 2]
    )
    error_message = "5 / 6 / 10 over 4 zones must split as min 2,1,1,1, desired 2,2,1,1, max 3,3,2,2"
  }
}

run "kubernetes_1_34_uses_its_own_pins" {
  command = plan

  variables {
    kubernetes_version = "1.34"
  }

  override_data {
    target = data.aws_eks_addon_version.this["kube-proxy"]
    values = {
      version = "v1.34.1-eksbuild.2"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["coredns"]
    values = {
      version = "v1.12.4-eksbuild.1"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["vpc-cni"]
    values = {
      version = "v1.20.4-eksbuild.1"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["eks-pod-identity-agent"]
    values = {
      version = "v1.3.9-eksbuild.3"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["aws-ebs-csi-driver"]
    values = {
      version = "v1.52.1-eksbuild.1"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["metrics-server"]
    values = {
      version = "v0.8.0-eksbuild.2"
    }
  }
  override_data {
    target = data.aws_eks_addon_version.this["amazon-cloudwatch-observability"]
    values = {
      version = "v4.6.0-eksbuild.1"
    }
  }

  assert {
    condition     = aws_eks_cluster.this.version == "1.34" && aws_eks_addon.before_nodes["kube-proxy"].addon_version == "v1.34.1-eksbuild.2"
    error_message = "kube-proxy must follow the cluster's minor version"
  }
  assert {
    condition     = aws_eks_addon.after_nodes["coredns"].addon_version == "v1.12.4-eksbuild.1"
    error_message = "add-ons must use the pins of the chosen Kubernetes version"
  }

  # 1.34 left standard support on 2026-12-02: the plan warns (a failed check), it does not stop.
  expect_failures = [check.kubernetes_version_in_standard_support]
}

# EKS moved its default away from a pin: the plan says so (a warning in a real plan).
run "addon_pin_behind_eks_default_is_reported" {
  command = plan

  override_data {
    target = data.aws_eks_addon_version.this["coredns"]
    values = {
      version = "v1.13.2-eksbuild.1"
    }
  }

  expect_failures = [check.addon_pins_match_eks_defaults]

  assert {
    condition     = aws_eks_addon.after_nodes["coredns"].addon_version == "v1.13.1-eksbuild.1"
    error_message = "a newer EKS default must not move the pinned add-on"
  }
}
