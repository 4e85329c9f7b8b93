"""How a run lives: its output folder (workspace), the lifeline that ends children with their parent, test hooks."""
