# ---------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------
# The AWS provider constraint admits the 5.100 line (the offline mirror the tests run against)
# and every 6.x release: the configuration uses only arguments that exist, undeprecated, in both
# (no `resolve_conflicts`, `inline_policy`, `managed_policy_arns`, `data.aws_region.name`, or
# per-resource `region`).
#
# The dependency lock file (.terraform.lock.hcl) is deliberately NOT committed: the offline mirror
# holds the provider for linux_amd64 only, so a lock written from it records one platform's
# checksums and `terraform init` would then fail on every other platform (macOS, arm64). Commit
# it from a networked machine with `terraform providers lock -platform=...` if you need one.
terraform {
  # 1.11: tests/*.tftest.hcl use `override_during = plan` (mock providers themselves need 1.7,
  # the S3 backend's `use_lockfile` 1.10).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }

  # Remote state: copy this block, fill in your bucket, and run `terraform init`. S3 native
  # locking (`use_lockfile`, Terraform >= 1.10) replaces the older DynamoDB lock table; the bucket
  # should have versioning and default encryption on. Left commented so that `terraform init`
  # works without an AWS account (the tests run `init -backend=false`).
  #
  # backend "s3" {
  #   bucket       = "my-org-terraform-state"
  #   key          = "demo-app/eks/terraform.tfstate"
  #   region       = "us-east-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
