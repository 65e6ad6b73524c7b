// Challenge with…: put another version behind the model's URL (shadow or canary); and Promote or
// End a challenge. Each starts a `challenge_model` run and then shows its steps.
import { Button, Checkbox, Field, Input, RadioGroup, Stack, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { useApi } from "./api.js";
import { ErrorAlert, FieldError, SelectField, refOptions } from "./common.jsx";
import { useStartRun } from "./DeployDialogs.jsx";
import { ConfirmFooter, LoadingModal, Modal } from "./Modal.jsx";
import { WorkflowProgress } from "./WorkflowProgress.jsx";

const MODES = [
  { value: "shadow", label: "Shadow", percent: "100",
    help: "Sees a copy of the share of requests; clients only ever get the champion's answer." },
  { value: "canary", label: "Canary", percent: "10",
    help: "Answers the share of requests itself; the champion answers the rest." },
];

// The newest version that is not the one serving: what one usually challenges with.
const defaultChallenger = (versions, serving) =>
  String(versions.find((v) => v.version !== serving)?.version ?? versions[0]?.version ?? "");

const percentError = (text) => {
  const value = Number(text.trim());
  const valid = text.trim() !== "" && Number.isFinite(value) && value > 0 && value <= 100;
  return valid ? null : "A share above 0 and at most 100.";
};

const minLabelledError = (text) =>
  text.trim() !== "" && !(/^\d+$/.test(text.trim()) && Number(text) >= 2) ? "A whole number of at least 2." : null;

const OptionalLabel = ({ children }) => (
  <Field.Label>
    {children} <Text as="span" color="fg.muted" fontWeight="normal">(optional)</Text>
  </Field.Label>
);

const ModeField = ({ mode, onChange, error }) => (
  <Field.Root invalid={Boolean(error)}>
    <Field.Label>Mode</Field.Label>
    <RadioGroup.Root data-testid="challenge-mode" onValueChange={({ value }) => onChange(value)} size="sm" value={mode}>
      <Stack gap={2}>
        {MODES.map(({ value, label, help }) => (
          <RadioGroup.Item alignItems="flex-start" data-testid={`challenge-mode-${value}`} key={value} value={value}>
            <RadioGroup.ItemHiddenInput />
            <RadioGroup.ItemIndicator />
            <RadioGroup.ItemText>
              <Text>{label}</Text>
              <Text color="fg.muted" fontSize="xs" fontWeight="normal">
                {help}
              </Text>
            </RadioGroup.ItemText>
          </RadioGroup.Item>
        ))}
      </Stack>
    </RadioGroup.Root>
    <FieldError error={error} field="mode" />
  </Field.Root>
);

const TextField = ({ label, optional, value, onChange, onEnter, error, field, testId, placeholder, helper }) => (
  <Field.Root invalid={Boolean(error)}>
    {optional ? <OptionalLabel>{label}</OptionalLabel> : <Field.Label>{label}</Field.Label>}
    <Input
      data-testid={testId}
      onChange={(event) => onChange(event.target.value)}
      onKeyDown={(event) => event.key === "Enter" && onEnter()}
      placeholder={placeholder}
      size="sm"
      value={value}
    />
    {helper && !error && <Field.HelperText>{helper}</Field.HelperText>}
    <FieldError error={error} field={field} />
  </Field.Root>
);

const useChallengeForm = () => {
  const [form, setForm] = useState({ ref: "", mode: "shadow", percent: "100", sticky: "", autoPromote: true,
                                     minLabelled: "" });
  const set = (key) => (value) => setForm((previous) => ({ ...previous, [key]: value }));
  // Switching the mode proposes that mode's usual share: all of it to a shadow, a tenth to a canary.
  const setMode = (mode) =>
    setForm((previous) => ({ ...previous, mode, percent: MODES.find((m) => m.value === mode).percent }));
  const errors = { percent: percentError(form.percent), min_labelled: minLabelledError(form.minLabelled) };
  const body = () => ({
    ref: form.ref,
    mode: form.mode,
    percent: Number(form.percent.trim()),
    sticky_header: form.mode === "canary" && form.sticky.trim() ? form.sticky.trim() : null,
    rule: {
      auto_promote: form.autoPromote,
      ...(form.minLabelled.trim() ? { min_labelled: Number(form.minLabelled) } : {}),
    },
  });
  return { form, set, setMode, errors, valid: Boolean(form.ref) && !errors.percent && !errors.min_labelled, body };
};

const ChallengeFields = ({ model, detail, challenge, error, confirm }) => {
  const { form, set, setMode, errors } = challenge;
  const fieldError = (name) => (error?.field === name ? error.message : null);
  const serving = model.deployment?.status === "running" ? model.deployment : null;
  return (
    <Stack gap={4}>
      <Text fontSize="sm">
        {serving
          ? `The champion is v${serving.model_version}${serving.url ? `, serving at ${serving.url}` : ""}. `
          : "Nothing serves this model. "}
        The challenger runs behind the same URL and both answers are compared request by request.
      </Text>
      <SelectField
        error={fieldError("ref")}
        field="ref"
        label="Challenger: version or alias"
        onChange={set("ref")}
        options={refOptions(detail.data?.model?.aliases ?? model.aliases ?? {}, detail.data?.versions ?? [])}
        testId="challenge-ref"
        value={form.ref}
      />
      <ModeField error={fieldError("mode")} mode={form.mode} onChange={setMode} />
      <TextField
        error={errors.percent ?? fieldError("percent")}
        field="percent"
        label="Share of requests (%)"
        onChange={set("percent")}
        onEnter={confirm}
        testId="challenge-percent"
        value={form.percent}
      />
      {form.mode === "canary" && (
        <TextField
          error={fieldError("sticky_header")}
          field="sticky_header"
          helper="Requests with the same value of this header always go to the same version."
          label="Sticky header"
          onChange={set("sticky")}
          onEnter={confirm}
          optional
          placeholder="e.g. x-user-id"
          testId="challenge-sticky"
          value={form.sticky}
        />
      )}
      <Checkbox.Root
        checked={form.autoPromote}
        data-testid="challenge-auto-promote"
        onCheckedChange={({ checked }) => set("autoPromote")(checked === true)}
        size="sm"
      >
        <Checkbox.HiddenInput />
        <Checkbox.Control />
        <Checkbox.Label>Promote by itself when it wins on labels</Checkbox.Label>
      </Checkbox.Root>
      <TextField
        error={errors.min_labelled ?? fieldError("rule")}
        field="rule"
        helper="Labelled requests the rule waits for before it judges which version is right more often."
        label="Minimum labelled requests"
        onChange={set("minLabelled")}
        onEnter={confirm}
        optional
        placeholder="the rule's default (200)"
        testId="challenge-min-labelled"
        value={form.minLabelled}
      />
      {error && !error.field && <ErrorAlert error={error} title="The challenge was not started" />}
    </Stack>
  );
};

export const ChallengeDialog = ({ model, onClose, onChanged }) => {
  const detail = useApi(["models", model.name]);
  const challenge = useChallengeForm();
  const { run, busy, error, start } = useStartRun(onChanged);
  const versions = detail.data?.versions ?? [];
  useEffect(() => {
    if (detail.data && challenge.form.ref === "") {
      challenge.set("ref")(defaultChallenger(versions, model.deployment?.model_version));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [detail.data]);
  const confirm = () => challenge.valid && start(["models", model.name, "challenge"], challenge.body());

  return (
    <LoadingModal
      confirm={
        <Button
          colorPalette="brand"
          data-testid="challenge-confirm"
          disabled={!challenge.valid || !detail.data}
          loading={busy}
          onClick={confirm}
        >
          Start challenge
        </Button>
      }
      error={detail.error}
      errorTitle="Cannot load the model's versions"
      loading={detail.loading && !detail.data}
      onClose={onClose}
      progress={run && <WorkflowProgress initialRun={run} onFinished={() => onChanged?.()} />}
      testId="challenge-dialog"
      title={`Challenge ${model.name}`}
    >
      <ChallengeFields challenge={challenge} confirm={confirm} detail={detail} error={error} model={model} />
    </LoadingModal>
  );
};

const DECISIONS = {
  promote: {
    verb: "Promote",
    body: (c) =>
      `Serve v${c.challenger_version} for every request, in place of v${c.champion_version}? Its servers become ` +
      `the champion on the same URL; v${c.champion_version}'s are drained and stopped.`,
  },
  end: {
    verb: "End challenge",
    body: (c) =>
      `Stop v${c.challenger_version}'s servers? v${c.champion_version} keeps answering every request, and the ` +
      `challenge stays in the history with its outcome.`,
  },
};

// Promote or End: a confirmation, then the run's progress.
export const ChallengeDecisionDialog = ({ modelName, challenge, decision, onClose, onChanged }) => {
  const text = DECISIONS[decision];
  const { run, busy, error, start } = useStartRun();
  const footer = (
    <ConfirmFooter
      confirm={
        !run && (
          <Button
            colorPalette={decision === "end" ? "danger" : "brand"}
            data-testid={`challenge-${decision}-confirm`}
            loading={busy}
            onClick={() => start(["models", modelName, "challenge", decision], {})}
          >
            {text.verb}
          </Button>
        )
      }
      onClose={onClose}
    />
  );
  return (
    <Modal
      footer={footer}
      onClose={onClose}
      testId={`challenge-${decision}-dialog`}
      title={`${text.verb}: ${modelName} v${challenge.challenger_version}`}
    >
      {run ? (
        <WorkflowProgress initialRun={run} onFinished={() => onChanged?.()} />
      ) : (
        <Stack gap={4}>
          <Text data-testid="challenge-decision-consequence">{text.body(challenge)}</Text>
          {error && <ErrorAlert error={error} title={`${text.verb} was not started`} />}
        </Stack>
      )}
    </Modal>
  );
};
