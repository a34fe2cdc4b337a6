"""Planners over the shared latent world model (a batch of latents in, a batch of actions out)."""
