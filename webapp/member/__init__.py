"""The member area: self-evaluation, evidence, my scores, appeals, notifications."""
