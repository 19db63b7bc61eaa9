"""Three kinds of model, kept apart: request bodies, response bodies, and the domain records that are
stored. It may import core only."""
