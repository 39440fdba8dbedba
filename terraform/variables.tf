# ---------------------------------------------------------------------------------------------
# Location and naming
# ---------------------------------------------------------------------------------------------
variable "region" {
  description = "AWS region the cluster and the ECR repository live in, e.g. \"us-east-1\"."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as \"us-east-1\" or \"eu-central-1\"."
  }
}

variable "cluster_name" {
  description = "Name of the EKS cluster; also names the IAM roles, the KMS alias and the node group."
  type        = string
  default     = "demo-app"

  validation {
    # EKS: 1-100 characters, alphanumerics, hyphens and underscores, starting with a letter or
    # digit. 38 keeps the derived IAM role names ("<name>-cluster-autoscaler", ...) within 64.
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,37}$", var.cluster_name))
    error_message = "cluster_name must be 1-38 characters of letters, digits, '-' and '_', starting with a letter or digit."
  }
}

variable "kubernetes_version" {
  description = <<-EOT
    Kubernetes minor version of the control plane and the nodes, "1.MINOR": one of the versions
    in local.kubernetes_versions (addons.tf), which pins the add-on versions tested with it.
    The default 1.35 is in EKS standard support until 2027-03-27 (EKS Kubernetes release
    calendar); after that date EKS upgrades the cluster (upgrade policy STANDARD) instead of
    billing extended support ($0.60/h instead of $0.10/h for the control plane). 1.34's
    standard support ended 2026-12-02: it is accepted, for an existing cluster on its way up.
  EOT
  type        = string
  default     = "1.35"

  validation {
    condition     = contains(keys(local.kubernetes_versions), var.kubernetes_version)
    error_message = "kubernetes_version must be one of ${join(", ", sort(keys(local.kubernetes_versions)))}: older versions are past EKS standard support, newer ones need their add-on versions pinned in addons.tf first."
  }
}

# ---------------------------------------------------------------------------------------------
# Network (an existing VPC; this stack does not create one)
# ---------------------------------------------------------------------------------------------
variable "vpc_id" {
  description = "Id of the existing VPC the cluster runs in (\"vpc-...\"). Its private subnets need a NAT gateway or VPC endpoints (ECR, S3, STS, EC2, EKS) for nodes to pull images and join."
  type        = string

  validation {
    condition     = can(regex("^vpc-([0-9a-f]{8}|[0-9a-f]{17})$", var.vpc_id))
    error_message = "vpc_id must be a VPC id: \"vpc-\" followed by 8 or 17 hex digits."
  }
}

variable "private_subnet_ids" {
  description = "Ids of private subnets of vpc_id, in at least 3 availability zones (checked against AWS at plan time), for the control-plane ENIs and the nodes."
  type        = list(string)

  validation {
    condition     = length(distinct(var.private_subnet_ids)) >= 3
    error_message = "private_subnet_ids must list at least 3 distinct subnets (one per availability zone, 3 zones or more)."
  }

  validation {
    condition     = alltrue([for id in var.private_subnet_ids : can(regex("^subnet-([0-9a-f]{8}|[0-9a-f]{17})$", id))])
    error_message = "Every entry of private_subnet_ids must be a subnet id: \"subnet-\" followed by 8 or 17 hex digits."
  }
}

# ---------------------------------------------------------------------------------------------
# API endpoint access
# ---------------------------------------------------------------------------------------------
variable "public_access_cidrs" {
  description = "CIDR blocks allowed to reach a public API endpoint. Empty (the default) means no public endpoint at all: the API is reachable only from inside the VPC (see api_access_cidrs)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrnetmask(c)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Every entry of public_access_cidrs must be an IPv4 network in canonical CIDR form, e.g. \"203.0.113.0/24\" (host bits zero)."
  }

  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "public_access_cidrs must not contain 0.0.0.0/0: list the operators' egress ranges, or leave it empty and use the private endpoint."
  }
}

variable "api_access_cidrs" {
  description = "CIDR blocks inside the VPC or reachable through it (VPN, Direct Connect, bastion subnet) allowed to reach the private API endpoint on 443. Nodes are always allowed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.api_access_cidrs : can(cidrnetmask(c)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "Every entry of api_access_cidrs must be an IPv4 network in canonical CIDR form, e.g. \"10.8.0.0/16\" (host bits zero)."
  }

  validation {
    condition     = !contains(var.api_access_cidrs, "0.0.0.0/0")
    error_message = "api_access_cidrs must not contain 0.0.0.0/0: list the VPN or bastion ranges."
  }
}

variable "admin_principal_arns" {
  description = "ARNs of the IAM roles given cluster-admin through EKS access entries (AmazonEKSClusterAdminPolicy). The identity running Terraform gets no implicit access."
  type        = list(string)

  validation {
    condition     = length(var.admin_principal_arns) >= 1
    error_message = "admin_principal_arns must list at least one IAM role ARN, or nobody can use the cluster."
  }

  validation {
    condition     = alltrue([for arn in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]+$", arn))])
    error_message = "Every entry of admin_principal_arns must be an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>."
  }
}

# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------
variable "node_scaling" {
  description = "Node count bounds of the whole cluster, split evenly over the per-zone node groups (the first zones get the remainder). min_size must be at least the number of zones (one node per zone for the zonal monitoring volumes). Cluster Autoscaler moves each group's desired count between its min and max; Terraform ignores later drift of desired_size."
  type = object({
    min_size     = number
    desired_size = number
    max_size     = number
  })
  # 3 zones x 1 node, up to 2 per zone: with one node (or zone) lost, the other two hold HPA
  # max plus the monitoring stack (docs/eks-terraform.md, "Zones and capacity").
  default = {
    min_size     = 3
    desired_size = 3
    max_size     = 6
  }

  validation {
    condition = alltrue([
      for n in values(var.node_scaling) : floor(n) == n
    ]) && var.node_scaling.min_size >= 1 && var.node_scaling.min_size <= var.node_scaling.desired_size && var.node_scaling.desired_size <= var.node_scaling.max_size && var.node_scaling.max_size <= 100
    error_message = "node_scaling must hold whole numbers with 1 <= min_size <= desired_size <= max_size <= 100."
  }
}

variable "node_instance_type" {
  description = "EC2 instance type of the nodes (x86_64; the AMI type is AL2023_x86_64_STANDARD). t3.large: 35 pods per node (3 ENIs x 12 addresses, VPC CNI without prefix delegation) and 8 GiB; t3.medium's 17 pods do not hold the workload on two nodes (docs/eks-terraform.md, \"Zones and capacity\")."
  type        = string
  default     = "t3.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.node_instance_type))
    error_message = "node_instance_type must be an EC2 instance type such as \"t3.medium\"."
  }
}

variable "node_volume_size_gib" {
  description = "Size of each node's encrypted gp3 root volume, in GiB (images and emptyDir live there)."
  type        = number
  default     = 30

  validation {
    condition     = floor(var.node_volume_size_gib) == var.node_volume_size_gib && var.node_volume_size_gib >= 20 && var.node_volume_size_gib <= 1024
    error_message = "node_volume_size_gib must be a whole number of GiB between 20 (the AL2023 AMI's size) and 1024."
  }
}

variable "cluster_autoscaler_service_account" {
  description = "Namespace and name of Cluster Autoscaler's Kubernetes service account; its Pod Identity association grants the scaling role. The Helm install must use the same name (docs/kubernetes.md)."
  type = object({
    namespace = string
    name      = string
  })
  default = {
    namespace = "kube-system"
    name      = "cluster-autoscaler"
  }

  validation {
    condition     = alltrue([for v in values(var.cluster_autoscaler_service_account) : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", v))])
    error_message = "cluster_autoscaler_service_account namespace and name must be Kubernetes DNS labels (lower-case letters, digits, '-')."
  }
}

# ---------------------------------------------------------------------------------------------
# Logging, registry, tags
# ---------------------------------------------------------------------------------------------
variable "log_retention_days" {
  description = "Days CloudWatch keeps the control-plane logs (/aws/eks/<cluster>/cluster)."
  type        = number
  default     = 90

  validation {
    # The values CloudWatch Logs accepts for retentionInDays.
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "container_log_retention_days" {
  description = "Days CloudWatch keeps the container logs Fluent Bit ships (/aws/containerinsights/<cluster>/application, dataplane and host)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.container_log_retention_days)
    error_message = "container_log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "ecr_repository_name" {
  description = "Name of the ECR repository for the app image."
  type        = string
  default     = "demo-app"

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.ecr_repository_name)) && length(var.ecr_repository_name) <= 256
    error_message = "ecr_repository_name must be lower-case letters and digits separated by '.', '_', '-' or '/', at most 256 characters."
  }
}

variable "ecr_keep_tagged_images" {
  description = "How many tagged images the ECR lifecycle policy keeps (newest first); untagged images expire after a day."
  type        = number
  default     = 30

  validation {
    condition     = floor(var.ecr_keep_tagged_images) == var.ecr_keep_tagged_images && var.ecr_keep_tagged_images >= 1
    error_message = "ecr_keep_tagged_images must be a whole number of images, at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tags keys must be 1-128 characters and not start with \"aws:\"; values at most 256 characters."
  }
}

# ---------------------------------------------------------------------------------------------
# Scale-out: Prometheus remote write to Amazon Managed Service for Prometheus (optional)
# ---------------------------------------------------------------------------------------------
variable "amp_remote_write" {
  description = "Create an AMP workspace and a Pod Identity role that lets Prometheus remote-write to it (monitoring/values-amp.yaml). Off by default: turn it on when one Prometheus pair no longer holds the series or the retention (docs/eks-terraform.md, \"Scale-out\")."
  type        = bool
  default     = false
}

variable "prometheus_service_account" {
  description = "Namespace and name of Prometheus' Kubernetes service account (kube-prometheus-stack: <release>-prometheus in the monitoring namespace; monitoring/values-amp.yaml sets the same name). Used only with amp_remote_write."
  type = object({
    namespace = string
    name      = string
  })
  default = {
    namespace = "monitoring"
    name      = "kube-prometheus-stack-prometheus"
  }

  validation {
    condition     = alltrue([for v in values(var.prometheus_service_account) : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", v))])
    error_message = "prometheus_service_account namespace and name must be Kubernetes DNS labels (lower-case letters, digits, '-')."
  }
}
