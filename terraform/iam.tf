# ---------------------------------------------------------------------------------------------
# IAM: control plane, nodes, and the pod roles (EBS CSI driver, Cluster Autoscaler, CloudWatch
# agent, optionally Prometheus' remote write)
# ---------------------------------------------------------------------------------------------
# Least privilege: AWS managed policies where AWS scopes them for exactly this job, and a
# customer policy narrowed to this cluster's key / Auto Scaling groups otherwise. Pods get AWS
# credentials only through EKS Pod Identity (IMDS is unreachable from pods: hop limit 1).

locals {
  aws_policy = "arn:${local.partition}:iam::aws:policy"
}

# --- control plane -----------------------------------------------------------------------------
resource "aws_iam_role" "cluster" {
  name        = "${var.cluster_name}-cluster"
  description = "EKS control plane of ${var.cluster_name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "${local.aws_policy}/AmazonEKSClusterPolicy"
}

# Envelope encryption of secrets: the control plane uses the key, nothing else.
resource "aws_iam_role_policy" "cluster_encryption" {
  name = "secrets-encryption"
  role = aws_iam_role.cluster.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
      Resource = aws_kms_key.eks.arn
    }]
  })
}

# --- nodes -------------------------------------------------------------------------------------
resource "aws_iam_role" "node" {
  name        = "${var.cluster_name}-node"
  description = "EC2 nodes of the ${var.cluster_name} managed node group"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    # kubelet: describe the cluster and the instance, join.
    "AmazonEKSWorkerNodePolicy",
    # Pull-only (no ListImages/DescribeRepositories beyond what a pull needs).
    "AmazonEC2ContainerRegistryPullOnly",
    # The VPC CNI (aws-node) assigns pod IPs before any pod, Pod Identity's agent included, can
    # run; AWS's documented default is the node role.
    "AmazonEKS_CNI_Policy",
    # SSM Session Manager: the operators' shell on a node (there is no SSH); the AL2023 AMI
    # runs the SSM agent, which registers with this policy. Sessions are IAM-authorised and
    # logged in CloudTrail.
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "${local.aws_policy}/${each.value}"
}

# --- EBS CSI driver (Pod Identity) ---------------------------------------------------------------
resource "aws_iam_role" "ebs_csi" {
  name               = "${var.cluster_name}-ebs-csi-driver"
  description        = "aws-ebs-csi-driver controller of ${var.cluster_name} (Pod Identity)"
  assume_role_policy = local.pod_identity_trust_policies["ebs-csi-driver"]
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "${local.aws_policy}/service-role/AmazonEBSCSIDriverPolicy"
}

# --- Cluster Autoscaler (Pod Identity) -----------------------------------------------------------
resource "aws_iam_role" "cluster_autoscaler" {
  name               = "${var.cluster_name}-cluster-autoscaler"
  description        = "Cluster Autoscaler of ${var.cluster_name} (Pod Identity)"
  assume_role_policy = local.pod_identity_trust_policies["cluster-autoscaler"]
}

# The policy from Cluster Autoscaler's AWS guide (cluster-autoscaler/cloudprovider/aws/README.md,
# "Full Cluster Autoscaler Features Policy"), with the two write actions limited to Auto Scaling
# groups tagged as this cluster's.
resource "aws_iam_role_policy" "cluster_autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.cluster_autoscaler.id
  policy = local.cluster_autoscaler_policy
}

# --- CloudWatch agent and Fluent Bit (Pod Identity) -----------------------------------------------
# The amazon-cloudwatch-observability add-on: Fluent Bit ships container logs, the agent writes
# to CloudWatch. CloudWatchAgentServerPolicy is the policy the add-on's guide names.
resource "aws_iam_role" "cloudwatch_agent" {
  name               = "${var.cluster_name}-cloudwatch-agent"
  description        = "CloudWatch agent and Fluent Bit of ${var.cluster_name} (Pod Identity)"
  assume_role_policy = local.pod_identity_trust_policies["cloudwatch-agent"]
}

resource "aws_iam_role_policy_attachment" "cloudwatch_agent" {
  role       = aws_iam_role.cloudwatch_agent.name
  policy_arn = "${local.aws_policy}/CloudWatchAgentServerPolicy"
}

# --- Prometheus remote write to Amazon Managed Service for Prometheus (optional) ----------------
resource "aws_iam_role" "prometheus_remote_write" {
  count = var.amp_remote_write ? 1 : 0

  name               = "${var.cluster_name}-prometheus-amp"
  description        = "Prometheus of ${var.cluster_name}: remote write to its AMP workspace (Pod Identity)"
  assume_role_policy = local.pod_identity_trust_policies["prometheus"]
}

# Write to this one workspace only (AmazonPrometheusRemoteWriteAccess would allow every workspace).
resource "aws_iam_role_policy" "prometheus_remote_write" {
  count = var.amp_remote_write ? 1 : 0

  name = "amp-remote-write"
  role = aws_iam_role.prometheus_remote_write[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["aps:RemoteWrite"]
      Resource = aws_prometheus_workspace.this[0].arn
    }]
  })
}

locals {
  cluster_autoscaler_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Describe/Get actions support no resource-level permissions: Resource must be "*".
        Sid    = "Discover"
        Effect = "Allow"
        Action = [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = "*"
      },
      {
        Sid      = "DescribeOwnNodeGroups"
        Effect   = "Allow"
        Action   = ["eks:DescribeNodegroup"]
        Resource = "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.cluster_name}/*"
      },
      {
        Sid      = "ScaleOwnGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = "*"
        Condition = {
          StringEquals = {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
          }
        }
      },
    ]
  })
}
