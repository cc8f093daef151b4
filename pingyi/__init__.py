"""评议 pingyi: 领导点评和群众评议 of party branches and members."""

__version__ = "0.1.0"
