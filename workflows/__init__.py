"""Everything that moves a process: BPMN deployment, the engine integration (instances, state,
locking, human tasks, timers, messages) and the service functions for each action of the
quarter. Imports `models`, never `webapp`. Services add to the session; callers commit."""
