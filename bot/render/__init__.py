"""Plain data -> Block Kit and text: blocks, milestones, modals, the digest, the terminal."""
