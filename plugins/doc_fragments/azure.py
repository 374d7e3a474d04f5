# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Azure credential and cloud options, documented once. Their argument spec lives next to the code that
# uses them: plugins/module_utils/_azure_auth.py (AZURE_AUTH_ARGSPEC) and the environment names in
# plugins/module_utils/_azure_credential_sources.py (ENV_NAMES); a unit test keeps the three in step.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  subscription_id:
    description:
      - The Azure subscription (a GUID) that holds the resources.
      - If not set in the task, E(AZURE_SUBSCRIPTION_ID) is used, else C(subscription_id) of the O(profile).
      - Required, except with O(auth_source=cli), where the Azure CLI's current subscription is taken.
    type: str
  client_id:
    description:
      - Application (client) id of a service principal, used with O(tenant) and either O(secret) or
        O(client_certificate_path).
      - With O(auth_source=msi), the client id of a user-assigned managed identity.
      - If not set in the task, E(AZURE_CLIENT_ID) is used, else C(client_id) of the O(profile).
    type: str
  secret:
    description:
      - Client secret of the service principal O(client_id). Never logged or returned.
      - If not set in the task, E(AZURE_SECRET) (what AWX's Azure credential injects) or E(AZURE_CLIENT_SECRET)
        (azure-identity's name) is used, else C(secret) of the O(profile). When both variables are set they must
        be equal, otherwise the task fails naming both.
      - Mutually exclusive with O(client_certificate_path), wherever each comes from.
    type: str
  tenant:
    description:
      - Microsoft Entra tenant (directory) id or domain of the service principal.
      - If not set in the task, E(AZURE_TENANT) (AWX) or E(AZURE_TENANT_ID) (azure-identity) is used, else
        C(tenant) of the O(profile). When both variables are set they must be equal, otherwise the task fails
        naming both.
    type: str
  client_certificate_path:
    description:
      - A service principal that signs in with a certificate instead of a secret (what
        C(az ad sp create-for-rbac --create-cert) makes, and what Azure Pipelines' service connections use).
      - The path of a file holding the RSA private key and its certificate, as azure-identity reads it. Either
        PEM (the key, then the certificate, then any chain) or PKCS#12 (C(.pfx)), optionally encrypted with
        O(client_certificate_password).
      - The file is checked before any request (a regular file of at most 256 KiB, exactly one RSA key, the key's
        own certificate first, not expired, the password right); errors name the option and where its value came
        from, never the key.
      - If not set in the task, E(AZURE_CLIENT_CERTIFICATE_PATH) is used, else C(client_certificate_path) (or
        azure.azcollection's C(x509_certificate_path)) of the O(profile).
    type: path
  client_certificate_password:
    description:
      - Password of an encrypted O(client_certificate_path). Never logged or returned.
      - If not set in the task, E(AZURE_CLIENT_CERTIFICATE_PASSWORD) is used, else C(client_certificate_password)
        of the O(profile).
    type: str
  profile:
    description:
      - Name of a section of C(~/.azure/credentials), the INI file azure.azcollection and older Azure tooling
        read. A section holds any of C(subscription_id), C(client_id), C(secret), C(tenant),
        C(cloud_environment), C(client_certificate_path) (or C(x509_certificate_path)),
        C(client_certificate_password); other keys are ignored. A profile that signs in with C(ad_user) and
        C(password) only is refused (username and password sign-in is not supported).
      - If not set in the task, E(AZURE_PROFILE) is used. The file is read only when a profile is named; there
        is no implicit C(default) profile (set V(default) to use it).
      - A missing file, a missing profile, or a file that is not a regular file, is larger than 64 KiB or is
        writable by other users fails the task, naming the profile and the file.
    type: str
  auth_source:
    description:
      - How to get an Azure token.
      - V(auto) uses a service principal when a secret (O(secret)) or a certificate (O(client_certificate_path))
        is set, in the task, the environment (what an AWX/Automation Controller Azure credential injects) or the
        O(profile); O(client_id) and O(tenant) are then required. Otherwise azure-identity's
        C(DefaultAzureCredential) chain (workload identity, managed identity, Azure CLI login, ...).
      - V(env) requires such a service principal and fails naming what is missing.
      - V(cli) uses the Azure CLI's login (C(az login)).
      - V(msi) uses the managed identity of the machine the module runs on (O(client_id) picks a
        user-assigned one).
      - V(workload_identity) uses a federated token (E(AZURE_FEDERATED_TOKEN_FILE), as on Kubernetes).
    type: str
    default: auto
    choices: [auto, env, cli, msi, workload_identity]
  cloud_environment:
    description:
      - The Azure cloud. V(AzureCloud) (public Azure, used when it is set nowhere), V(AzureChinaCloud) or
        V(AzureUSGovernment).
      - Or the https URL of a cloud metadata endpoint, as Azure Stack Hub publishes it, for example
        V(https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01). Both
        metadata forms are read (C(2015-01-01), one object; C(2022-09-01), a list of clouds). The resource manager
        endpoint, login authority and token audience come from it, and instance discovery is off.
      - A private CA (Azure Stack Hub, a TLS-inspecting proxy) is trusted through E(REQUESTS_CA_BUNDLE).
      - If not set in the task, E(AZURE_CLOUD_ENVIRONMENT) is used, else C(cloud_environment) of the O(profile).
    type: str
notes:
  - "Where credentials come from, per setting: the task's option, else its environment variable, else the
    O(profile). So an AWX credential (environment) overrides a profile, and a task option overrides both."
  - "Two environment names for one setting (E(AZURE_SECRET) and E(AZURE_CLIENT_SECRET), E(AZURE_TENANT) and
    E(AZURE_TENANT_ID)) set to different values fail the task, naming both; equal values are fine."
  - "A service principal is never assembled from two places outside the task: if its O(client_id), O(tenant),
    secret or certificate (and its password) would come partly from the environment and partly from the
    O(profile), the task fails naming both."
  - Secrets (O(secret), O(client_certificate_password), the certificate's private key) are marked C(no_log),
    also when they come from the environment or a profile, and never appear in results, diffs or error messages.
"""
