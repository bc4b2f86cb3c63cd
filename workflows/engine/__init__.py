"""The SpiffWorkflow integration: parsing and deploying BPMN versions, the compact state, starting
and loading instances, human tasks and who may do them, timers, messages and the transaction
boundary. Knows nothing of the quarter: forms and service-task operators are given to it by
`workflows.setup.configure`."""
