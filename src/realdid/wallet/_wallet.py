"""The resident's wallet: a :class:`~realdid.controller.DidController` that also keeps
credentials and the disclosure log, in the same encrypted keystore.

The DID operations and their key derivation are the controller's (shared with the identity
authority's own DID); what only a resident needs — the credentials received and the log of
every login answer given (ADR 0012) — is here.
"""

from __future__ import annotations

from realdid.controller import DidController, Submitted
from realdid.did import ServiceEntry
from realdid.registry import RegistryClient

from ._errors import WalletError
from ._history import Disclosure
from ._stored import MalformedStoredCredentialError, StoredCredential


class Wallet(DidController):
    # -- credentials ----------------------------------------------------------------------------
    @property
    def credentials(self) -> list[StoredCredential]:
        """Credentials received, oldest first.

        :class:`~realdid.wallet.MalformedStoredCredentialError` if an entry of the wallet
        file is not a stored credential.
        """
        entries = self._keystore.payload.get("credentials", [])
        if not isinstance(entries, list):
            raise MalformedStoredCredentialError("the wallet's credentials must be a JSON array")
        return [StoredCredential.from_dict(entry) for entry in entries]

    def add_credential(self, credential: StoredCredential) -> None:
        """Store a credential (encrypted with the rest of the wallet); durable on return."""
        payload = dict(self._keystore.payload)
        payload["credentials"] = [*payload.get("credentials", []), credential.to_dict()]
        self._keystore.save(payload)

    # -- disclosure log -----------------------------------------------------------------------
    @property
    def disclosures(self) -> list[Disclosure]:
        """Every login answer given, oldest first (claim names only, never values)."""
        return [Disclosure.from_dict(d) for d in self._keystore.payload.get("disclosures", [])]

    def add_disclosures(self, *entries: Disclosure) -> None:
        """Append to the encrypted disclosure log; durable on return. There is no removal."""
        payload = dict(self._keystore.payload)
        payload["disclosures"] = [
            *payload.get("disclosures", []),
            *(e.to_dict() for e in entries),
        ]
        self._keystore.save(payload)

    # -- operations ---------------------------------------------------------------------------
    def update(
        self,
        client: RegistryClient,
        did: str,
        *,
        add_services: tuple[ServiceEntry, ...] = (),
        remove_services: tuple[str, ...] = (),
        add_key: bool = False,
        remove_keys: tuple[str, ...] = (),
    ) -> Submitted:
        """:meth:`DidController.update`, refusing an empty update in the resident's words."""
        if not (add_services or remove_services or add_key or remove_keys):
            raise WalletError(
                "nothing to update: give --add-service, --remove-service, --add-key or --remove-key"
            )
        return super().update(
            client,
            did,
            add_services=add_services,
            remove_services=remove_services,
            add_key=add_key,
            remove_keys=remove_keys,
        )
