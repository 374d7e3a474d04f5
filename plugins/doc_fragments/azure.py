# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Azure credential and cloud options, documented once. Their argument spec lives next to the code that
# uses them: plugins/module_utils/_azure_auth.py (AZURE_AUTH_ARGSPEC); a unit test keeps the two in step.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  subscription_id:
    description:
      - The Azure subscription (a GUID) that holds the resources.
      - If not set in the task, E(AZURE_SUBSCRIPTION_ID) is used.
      - Required, except with O(auth_source=cli), where the Azure CLI's current subscription is taken.
    type: str
  client_id:
    description:
      - Application (client) id of a service principal, used with O(secret) and O(tenant).
      - With O(auth_source=msi), the client id of a user-assigned managed identity.
      - If not set in the task, E(AZURE_CLIENT_ID) is used.
    type: str
  secret:
    description:
      - Client secret of the service principal O(client_id). Never logged or returned.
      - If not set in the task, E(AZURE_SECRET) is used, else E(AZURE_CLIENT_SECRET).
    type: str
  tenant:
    description:
      - Microsoft Entra tenant (directory) id or domain of the service principal.
      - If not set in the task, E(AZURE_TENANT) is used, else E(AZURE_TENANT_ID).
    type: str
  auth_source:
    description:
      - How to get an Azure token.
      - V(auto) uses a service principal when O(client_id), O(secret) and O(tenant) are all set (in the task or
        their environment variables, which is what an AWX/Automation Controller Azure credential injects);
        otherwise azure-identity's C(DefaultAzureCredential) chain (environment, workload identity, managed
        identity, Azure CLI login, ...). Setting O(secret) without O(client_id) or O(tenant) is an error.
      - V(env) requires the service principal (O(client_id), O(secret), O(tenant)) and fails naming what is
        missing.
      - V(cli) uses the Azure CLI's login (C(az login)).
      - V(msi) uses the managed identity of the machine the module runs on (O(client_id) picks a
        user-assigned one).
      - V(workload_identity) uses a federated token (E(AZURE_FEDERATED_TOKEN_FILE), as on Kubernetes).
    type: str
    default: auto
    choices: [auto, env, cli, msi, workload_identity]
  cloud_environment:
    description:
      - The Azure cloud. V(AzureCloud) (public Azure), V(AzureChinaCloud) or V(AzureUSGovernment).
      - Or the https URL of a cloud metadata endpoint, as Azure Stack Hub publishes it, for example
        V(https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01). Both
        metadata forms are read (C(2015-01-01), one object; C(2022-09-01), a list of clouds). The resource manager
        endpoint, login authority and token audience come from it, and instance discovery is off.
      - A private CA (Azure Stack Hub, a TLS-inspecting proxy) is trusted through E(REQUESTS_CA_BUNDLE).
      - If not set in the task, E(AZURE_CLOUD_ENVIRONMENT) is used.
    type: str
    default: AzureCloud
notes:
  - Secrets (O(secret)) are marked C(no_log) and never appear in results, diffs or error messages.
"""
