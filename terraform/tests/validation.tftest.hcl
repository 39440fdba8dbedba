# Bad inputs must stop the plan with the variable's own message (expect_failures names the
# variable or the resource whose precondition fails), never reach AWS.

mock_provider "aws" {
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

  # The provider checks add-on versions against semantic versioning even under a mock.
  mock_data "aws_eks_addon_version" {
    defaults = {
      version = "v1.0.0-eksbuild.1"
    }
  }

  mock_data "aws_subnet" {
    defaults = {
      vpc_id            = "vpc-0123456789abcdef0"
      availability_zone = "us-east-1a"
    }
  }
}

# A valid baseline (three subnets of vpc_id in three zones), so that each run below fails for
# its one bad input only: an unexpected second error fails the run.
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

run "valid_baseline_plans" {
  command = plan
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

run "fewer_than_three_subnets" {
  command = plan
  variables {
    private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "duplicate_subnets_do_not_count" {
  command = plan
  variables {
    private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "malformed_subnet_id" {
  command = plan
  variables {
    private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "sn-12345678"]
  }
  expect_failures = [var.private_subnet_ids]
}

# Three subnets, but only two zones: caught against the subnets' own data at plan time.
run "subnets_in_two_zones" {
  command = plan

  override_data {
    target = data.aws_subnet.private["subnet-0123456789abcdef2"]
    values = {
      vpc_id            = "vpc-0123456789abcdef0"
      availability_zone = "us-east-1b"
    }
  }

  expect_failures = [aws_eks_cluster.this]
}

run "subnet_of_another_vpc" {
  command = plan

  override_data {
    target = data.aws_subnet.private["subnet-0123456789abcdef0"]
    values = {
      vpc_id            = "vpc-0fedcba9876543210"
      availability_zone = "us-east-1a"
    }
  }

  expect_failures = [aws_eks_cluster.this]
}

run "version_past_end_of_support" {
  command = plan
  variables {
    kubernetes_version = "1.28"
  }
  expect_failures = [var.kubernetes_version]
}

# The previous floor: in extended support, and no add-on pins for it.
run "version_in_extended_support_only" {
  command = plan
  variables {
    kubernetes_version = "1.33"
  }
  expect_failures = [var.kubernetes_version]
}

# The range has an upper bound: a version nobody has pinned add-ons for is refused.
run "version_beyond_the_supported_range" {
  command = plan
  variables {
    kubernetes_version = "1.99"
  }
  expect_failures = [var.kubernetes_version]
}

run "version_with_patch_level" {
  command = plan
  variables {
    kubernetes_version = "1.35.2"
  }
  expect_failures = [var.kubernetes_version]
}

run "version_with_leading_zero" {
  command = plan
  variables {
    kubernetes_version = "1.035"
  }
  expect_failures = [var.kubernetes_version]
}

run "version_not_a_number" {
  command = plan
  variables {
    kubernetes_version = "latest"
  }
  expect_failures = [var.kubernetes_version]
}

run "public_cidr_with_host_bits" {
  command = plan
  variables {
    public_access_cidrs = ["203.0.113.7/24"]
  }
  expect_failures = [var.public_access_cidrs]
}

run "public_cidr_not_a_cidr" {
  command = plan
  variables {
    public_access_cidrs = ["203.0.113.0"]
  }
  expect_failures = [var.public_access_cidrs]
}

run "public_endpoint_open_to_the_internet" {
  command = plan
  variables {
    public_access_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.public_access_cidrs]
}

run "operator_cidr_malformed" {
  command = plan
  variables {
    api_access_cidrs = ["10.8.0.0/33"]
  }
  expect_failures = [var.api_access_cidrs]
}

run "bad_vpc_id" {
  command = plan
  variables {
    vpc_id = "vpc-xyz"
  }
  expect_failures = [var.vpc_id]
}

run "no_admin" {
  command = plan
  variables {
    admin_principal_arns = []
  }
  expect_failures = [var.admin_principal_arns]
}

run "admin_must_be_a_role" {
  command = plan
  variables {
    admin_principal_arns = ["arn:aws:iam::111122223333:user/alice"]
  }
  expect_failures = [var.admin_principal_arns]
}

run "scaling_min_above_max" {
  command = plan
  variables {
    node_scaling = { min_size = 4, desired_size = 4, max_size = 3 }
  }
  expect_failures = [var.node_scaling]
}

run "scaling_desired_below_min" {
  command = plan
  variables {
    node_scaling = { min_size = 3, desired_size = 2, max_size = 6 }
  }
  expect_failures = [var.node_scaling]
}

# Valid bounds, but fewer nodes than zones: a zone's group would get min 0 and no node for its
# monitoring volumes. Caught against the subnets' zones at plan time.
run "scaling_min_below_zone_count" {
  command = plan
  variables {
    node_scaling = { min_size = 2, desired_size = 2, max_size = 6 }
  }
  expect_failures = [aws_eks_cluster.this]
}

run "bad_region" {
  command = plan
  variables {
    region = "us-east"
  }
  expect_failures = [var.region]
}

run "bad_cluster_name" {
  command = plan
  variables {
    cluster_name = "-demo"
  }
  expect_failures = [var.cluster_name]
}

run "bad_log_retention" {
  command = plan
  variables {
    log_retention_days = 100
  }
  expect_failures = [var.log_retention_days]
}

run "bad_container_log_retention" {
  command = plan
  variables {
    container_log_retention_days = 31
  }
  expect_failures = [var.container_log_retention_days]
}

run "bad_prometheus_service_account" {
  command = plan
  variables {
    prometheus_service_account = { namespace = "monitoring", name = "Prometheus_SA" }
  }
  expect_failures = [var.prometheus_service_account]
}
