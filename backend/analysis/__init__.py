"""Turn a forward pass (its cache) into what a view needs: indexing and small arithmetic only."""
