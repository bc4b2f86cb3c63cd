// The in-app BPMN modeller (vendored bpmn-js modeler) with a small properties panel for what the
// engine reads: a task's form, due date and status, a flow's condition, a timer, the process id.
// "Check and review" sends the XML to the same checks as an uploaded file; nothing is deployed
// from here directly.
(function () {
  "use strict";

  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";

  // The spiffworkflow extension elements the engine uses, so that bpmn-js keeps them on export
  // and the panel can edit them.
  var SPIFF_DESCRIPTOR = {
    name: "SpiffWorkflow", uri: SPIFF, prefix: "spiffworkflow", xml: { tagAlias: "lowerCase" }, associations: [],
    types: [
      { name: "Properties", superClass: ["Element"], properties: [
        { name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [
        { name: "name", type: "String", isAttr: true }, { name: "value", type: "String", isAttr: true }] },
      { name: "ServiceTaskOperator", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true }, { name: "resultVariable", type: "String", isAttr: true },
        { name: "parameterList", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"], properties: [
        { name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true }, { name: "type", type: "String", isAttr: true },
        { name: "value", type: "String", isAttr: true }] },
      { name: "MessagePayload", superClass: ["Element"], properties: [{ name: "body", type: "String", isBody: true }] },
      { name: "MessageVariable", superClass: ["Element"], properties: [{ name: "body", type: "String", isBody: true }] },
      { name: "PreScript", superClass: ["Element"], properties: [{ name: "body", type: "String", isBody: true }] },
      { name: "PostScript", superClass: ["Element"], properties: [{ name: "body", type: "String", isBody: true }] },
      { name: "InstructionsForEndUser", superClass: ["Element"], properties: [{ name: "body", type: "String", isBody: true }] }
    ]
  };

  var BLANK = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" ' +
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ' +
    'xmlns:spiffworkflow="' + SPIFF + '" id="Definitions_new" targetNamespace="http://pointsflow.local/bpmn/new">\n' +
    '  <bpmn:collaboration id="Collaboration_new"><bpmn:participant id="Participant_new" name="新流程" processRef="new_process" /></bpmn:collaboration>\n' +
    '  <bpmn:process id="new_process" name="新流程" isExecutable="true">\n' +
    '    <bpmn:laneSet id="LaneSet_new">\n' +
    '      <bpmn:lane id="Lane_member" name="member"><bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>task</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane>\n' +
    '      <bpmn:lane id="Lane_reviewer" name="reviewer" />\n' +
    '    </bpmn:laneSet>\n' +
    '    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>flow_1</bpmn:outgoing></bpmn:startEvent>\n' +
    '    <bpmn:userTask id="task" name="办理"><bpmn:incoming>flow_1</bpmn:incoming><bpmn:outgoing>flow_2</bpmn:outgoing></bpmn:userTask>\n' +
    '    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>flow_2</bpmn:incoming></bpmn:endEvent>\n' +
    '    <bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="task" />\n' +
    '    <bpmn:sequenceFlow id="flow_2" sourceRef="task" targetRef="end" />\n' +
    '  </bpmn:process>\n' +
    '  <bpmndi:BPMNDiagram id="Diagram_new"><bpmndi:BPMNPlane id="Plane_new" bpmnElement="Collaboration_new">\n' +
    '    <bpmndi:BPMNShape id="Participant_new_di" bpmnElement="Participant_new" isHorizontal="true"><dc:Bounds x="160" y="60" width="700" height="300" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNShape id="Lane_member_di" bpmnElement="Lane_member" isHorizontal="true"><dc:Bounds x="190" y="60" width="670" height="150" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNShape id="Lane_reviewer_di" bpmnElement="Lane_reviewer" isHorizontal="true"><dc:Bounds x="190" y="210" width="670" height="150" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="232" y="117" width="36" height="36" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNShape id="task_di" bpmnElement="task"><dc:Bounds x="320" y="95" width="100" height="80" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="482" y="117" width="36" height="36" /></bpmndi:BPMNShape>\n' +
    '    <bpmndi:BPMNEdge id="flow_1_di" bpmnElement="flow_1"><di:waypoint x="268" y="135" /><di:waypoint x="320" y="135" /></bpmndi:BPMNEdge>\n' +
    '    <bpmndi:BPMNEdge id="flow_2_di" bpmnElement="flow_2"><di:waypoint x="420" y="135" /><di:waypoint x="482" y="135" /></bpmndi:BPMNEdge>\n' +
    '  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n' +
    '</bpmn:definitions>\n';

  var root = document.getElementById("modeller");
  if (!root || typeof window.BpmnJS !== "function") { return; }
  var status = root.querySelector(".modeller-status");
  var panel = root.querySelector(".modeller-panel");
  var modeler = new window.BpmnJS({
    container: root.querySelector(".modeller-canvas"),
    moddleExtensions: { spiffworkflow: SPIFF_DESCRIPTOR }
  });
  var filename = root.getAttribute("data-filename") || "diagram.bpmn";
  var selected = null;

  function say(text) { status.textContent = text; }

  function open(xml) {
    return modeler.importXML(xml).then(function () {
      modeler.get("canvas").zoom("fit-viewport", "auto");
      say(root.getAttribute("data-msg-loaded"));
      show(null);
    }).catch(function (err) {
      say(root.getAttribute("data-msg-failed").replace("{error}", err.message || String(err)));
    });
  }

  var source = root.getAttribute("data-source");
  if (source) {
    fetch(source, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(open)
      .catch(function (err) { say(root.getAttribute("data-msg-failed").replace("{error}", err.message)); });
  } else {
    open(BLANK);
  }

  // --- the toolbar ---------------------------------------------------------------------------------

  document.getElementById("modeller-check").addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-ready")) { return; }
    event.preventDefault();
    modeler.saveXML({ format: true }).then(function (result) {
      form.querySelector("input[name=xml]").value = result.xml;
      form.querySelector("input[name=filename]").value = filename;
      form.setAttribute("data-ready", "1");
      form.submit();
    });
  });

  root.addEventListener("click", function (event) {
    var action = event.target.getAttribute("data-action");
    if (action === "download") {
      modeler.saveXML({ format: true }).then(function (result) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([result.xml], { type: "application/xml" }));
        link.download = filename;
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
      });
    } else if (action === "fit") {
      modeler.get("canvas").zoom("fit-viewport", "auto");
    }
  });

  root.querySelector("input[data-action=open]").addEventListener("change", function (event) {
    var file = event.target.files[0];
    if (!file) { return; }
    filename = file.name;
    var reader = new FileReader();
    reader.onload = function () { open(String(reader.result)); };
    reader.readAsText(file);
    event.target.value = "";
  });

  // --- the properties panel ---------------------------------------------------------------------------

  var moddle = modeler.get("moddle");
  var modeling = modeler.get("modeling");

  function is(element, type) {
    var bo = element && element.businessObject;
    return !!(bo && bo.$instanceOf && bo.$instanceOf(type));
  }

  function spiffProperties(bo) {
    var ext = bo.extensionElements;
    var values = (ext && ext.values) || [];
    for (var i = 0; i < values.length; i++) {
      if (values[i].$type === "spiffworkflow:Properties") { return values[i]; }
    }
    return null;
  }

  function property(bo, name) {
    var props = spiffProperties(bo);
    var list = (props && props.properties) || [];
    for (var i = 0; i < list.length; i++) {
      if (list[i].name === name) { return list[i]; }
    }
    return null;
  }

  function setProperty(element, name, value) {
    var bo = element.businessObject;
    var ext = bo.extensionElements;
    if (!ext) {
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      modeling.updateProperties(element, { extensionElements: ext });
    }
    var props = spiffProperties(bo);
    if (!props) {
      props = moddle.create("spiffworkflow:Properties", { properties: [] });
      modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([props]) });
    }
    var prop = property(bo, name);
    if (!value) {
      if (prop) { modeling.updateModdleProperties(element, props, { properties: props.properties.filter(function (p) { return p !== prop; }) }); }
    } else if (prop) {
      modeling.updateModdleProperties(element, prop, { value: value });
    } else {
      prop = moddle.create("spiffworkflow:Property", { name: name, value: value });
      modeling.updateModdleProperties(element, props, { properties: (props.properties || []).concat([prop]) });
    }
  }

  function timerDefinition(element) {
    var defs = (element.businessObject.eventDefinitions || []);
    for (var i = 0; i < defs.length; i++) {
      if (defs[i].$type === "bpmn:TimerEventDefinition") { return defs[i]; }
    }
    return null;
  }

  function timerKind(definition) {
    return ["timeDate", "timeDuration", "timeCycle"].filter(function (k) { return definition[k]; })[0] || "timeDate";
  }

  function field(name) { return panel.querySelector("[data-prop=" + name + "]"); }

  function show(element) {
    selected = element;
    var fields = panel.querySelector(".panel-fields");
    var empty = panel.querySelector(".panel-empty");
    if (!element || element.type === "label" || is(element, "bpmn:Collaboration") || is(element, "bpmn:Process") && !element.parent) {
      fields.hidden = true;
      empty.textContent = root.getAttribute("data-msg-none");
      return;
    }
    fields.hidden = false;
    empty.textContent = "";
    var bo = element.businessObject;
    var timer = timerDefinition(element);
    var kinds = {
      process: is(element, "bpmn:Participant") && !!bo.processRef,
      name: !is(element, "bpmn:Participant"),
      userTask: is(element, "bpmn:UserTask"),
      status: is(element, "bpmn:UserTask") || is(element, "bpmn:IntermediateCatchEvent") || is(element, "bpmn:ReceiveTask"),
      condition: is(element, "bpmn:SequenceFlow") && !!bo.sourceRef && !is({ businessObject: bo.sourceRef }, "bpmn:ParallelGateway"),
      timer: !!timer,
      lane: is(element, "bpmn:Lane")
    };
    Array.prototype.forEach.call(panel.querySelectorAll("[data-for]"), function (node) {
      node.hidden = !kinds[node.getAttribute("data-for")];
    });
    panel.querySelector(".panel-element").textContent = (bo.$type || "").replace("bpmn:", "") + " · " + bo.id;
    field("name").value = bo.name || "";
    if (kinds.process) {
      field("processId").value = bo.processRef.id || "";
      field("processName").value = bo.processRef.name || "";
    }
    if (kinds.userTask) {
      var form = property(bo, "formKey");
      var due = property(bo, "dueAt");
      var select = field("formKey");
      var value = form ? form.value : "";
      if (value && !select.querySelector("option[value='" + value.replace(/'/g, "") + "']")) {
        var option = document.createElement("option");
        option.value = option.textContent = value;
        select.appendChild(option);
      }
      select.value = value;
      field("dueAt").value = due ? due.value : "";
    }
    if (kinds.status) {
      var st = property(bo, "status");
      field("status").value = st ? st.value : "";
    }
    if (kinds.condition) {
      field("condition").value = bo.conditionExpression ? (bo.conditionExpression.body || "") : "";
    }
    if (kinds.timer) {
      var kind = timerKind(timer);
      field("timerKind").value = kind;
      field("timer").value = timer[kind] ? (timer[kind].body || "") : "";
    }
  }

  function apply(name, value) {
    var element = selected;
    if (!element) { return; }
    var bo = element.businessObject;
    value = value.trim();
    if (name === "name") {
      modeling.updateLabel(element, value);
    } else if (name === "processId" && value && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value)) {
      modeling.updateModdleProperties(element, bo.processRef, { id: value });
    } else if (name === "processName") {
      modeling.updateModdleProperties(element, bo.processRef, { name: value });
    } else if (name === "formKey" || name === "dueAt" || name === "status") {
      setProperty(element, name, value);
    } else if (name === "condition") {
      modeling.updateProperties(element, {
        conditionExpression: value ? moddle.create("bpmn:FormalExpression", { body: value }) : undefined
      });
    } else if (name === "timer" || name === "timerKind") {
      var timer = timerDefinition(element);
      var kind = field("timerKind").value;
      var expression = field("timer").value.trim();
      var update = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      if (expression) { update[kind] = moddle.create("bpmn:FormalExpression", { body: expression }); }
      modeling.updateModdleProperties(element, timer, update);
    }
  }

  Array.prototype.forEach.call(panel.querySelectorAll("[data-prop]"), function (input) {
    input.addEventListener("change", function () { apply(input.getAttribute("data-prop"), input.value); });
  });

  modeler.on("selection.changed", function (event) {
    show(event.newSelection.length === 1 ? event.newSelection[0] : null);
  });
  modeler.on("element.changed", function (event) {
    if (selected && event.element === selected) { show(selected); }
  });
})();
