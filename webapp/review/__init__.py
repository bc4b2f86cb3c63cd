"""The task pages of the branch's work: review, approval, general meeting, appeals, supervision
reports, follow-ups."""
