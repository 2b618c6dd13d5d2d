"""snnc.ir — the spiking IR: ops with their discrete-time semantics, the graph, serialization,
numerics profiles and the reference interpreter."""

from .errors import GraphError, SnncError, UnsupportedError
from .graph import Graph, Node
from .interpreter import Trace, interpret
from .numerics import Profile, get_profile
from .ops import OPS
from .serialize import load, save

__all__ = ["Graph", "Node", "OPS", "interpret", "Trace", "load", "save", "Profile", "get_profile",
           "SnncError", "GraphError", "UnsupportedError"]
