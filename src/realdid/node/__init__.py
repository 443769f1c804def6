"""The registry node service: operation intake, batching and anchoring, resolver.

Example (a node on embedded defaults, served by uvicorn)::

    node = RegistryNode(NodeConfig(data_dir=Path("data/node")))
    uvicorn.run(create_app(node), port=8080)
"""

from ._app import create_app
from ._errors import NodeError
from ._local import LocalRegistryClient
from ._problem_types import NODE_PROBLEMS
from ._service import NodeConfig, NodeSetupError, RegistryNode

__all__ = [
    "NODE_PROBLEMS",
    "LocalRegistryClient",
    "NodeConfig",
    "NodeError",
    "NodeSetupError",
    "RegistryNode",
    "create_app",
]
