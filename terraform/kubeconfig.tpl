# kubeconfig for EKS cluster ${cluster_name}, rendered by Terraform (output "kubeconfig").
# It holds no credential: kubectl runs `aws eks get-token` for a short-lived token, as whatever
# AWS identity the shell has (one of the cluster's admin_principal_arns, e.g. via AWS_PROFILE).
apiVersion: v1
kind: Config
clusters:
  - name: ${cluster_name}
    cluster:
      server: ${endpoint}
      certificate-authority-data: ${certificate_authority_data}
contexts:
  - name: ${cluster_name}
    context:
      cluster: ${cluster_name}
      user: ${cluster_name}
current-context: ${cluster_name}
preferences: {}
users:
  - name: ${cluster_name}
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        command: aws
        args:
          - --region
          - ${region}
          - eks
          - get-token
          - --cluster-name
          - ${cluster_name}
          - --output
          - json
        interactiveMode: IfAvailable
        provideClusterInfo: false
