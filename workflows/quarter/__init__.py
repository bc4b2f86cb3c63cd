"""The services of the quarter (一季一考评): opening it, declaring, reviewing, the branch's approval
and meeting, appeals, the notice, follow-ups, supervision reports, filing and the annual assessment."""
