"""The optional payload codec: AES-GCM over every Temporal payload, keys by ID (docs/codec.md).

Below gastown.config in the layers: config builds the data converter from it, and the service
(worker, watcher, codec server) and the CLI use what config built. Workflows never import it.
"""

from gastown.codec.aesgcm import (
    ENCODING,
    FORMAT_METADATA,
    KEY_ID_METADATA,
    NAMESPACE_METADATA,
    WORKFLOW_ID_METADATA,
    AESGCMCodec,
    Binding,
    CodecKeyError,
    KeyFile,
    PayloadRefused,
    UnknownKeyID,
    load_key_file,
    parse_key_file,
)

__all__ = [
    "ENCODING",
    "FORMAT_METADATA",
    "KEY_ID_METADATA",
    "NAMESPACE_METADATA",
    "WORKFLOW_ID_METADATA",
    "AESGCMCodec",
    "Binding",
    "CodecKeyError",
    "KeyFile",
    "PayloadRefused",
    "UnknownKeyID",
    "load_key_file",
    "parse_key_file",
]
