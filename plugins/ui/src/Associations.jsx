// Associate Scoring Workflow: the form (with a live preview of the schedule), and the list of a
// model's associations, each removable and runnable now.
import { Alert, Box, Button, Code, Field, Grid, HStack, Input, List, Separator, Stack, Text } from "@chakra-ui/react";
import { useEffect, useRef, useState } from "react";

import { api, useApi } from "./api.js";
import { AirflowLink, ErrorAlert, FieldError, Muted, SelectField, Time, refOptions } from "./common.jsx";
import { defaultRef, formatRunTime } from "./format.js";
import { ExternalIcon, PlayIcon, TrashIcon } from "./icons.jsx";
import { LoadingModal } from "./Modal.jsx";
import { WorkflowProgress } from "./WorkflowProgress.jsx";

const PREVIEW_DEBOUNCE_MS = 350;

// Debounced `GET schedules/preview?cron=...`: {status: "empty"|"loading"|"valid"|"invalid"|"error", ...}.
export const useCronPreview = (cron) => {
  const [preview, setPreview] = useState({ status: "empty", nextRuns: [], error: null });
  const sequence = useRef(0);
  useEffect(() => {
    const value = cron.trim();
    const mine = ++sequence.current;
    if (value === "") {
      setPreview({ status: "empty", nextRuns: [], error: null });
      return undefined;
    }
    setPreview((previous) => ({ ...previous, status: "loading" }));
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api("schedules/preview", { params: { cron: value }, signal: controller.signal }).then(
        (answer) => {
          if (mine !== sequence.current) return;
          setPreview(
            answer?.valid
              ? { status: "valid", nextRuns: answer.next_runs ?? [], error: null }
              : { status: "invalid", nextRuns: [], error: answer?.error ?? "invalid schedule" },
          );
        },
        (error) => {
          if (mine !== sequence.current || error?.name === "AbortError") return;
          setPreview({ status: "error", nextRuns: [], error: error.message });
        },
      );
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [cron]);
  return preview;
};

const CronPreview = ({ preview }) => {
  if (preview.status === "empty") {
    return (
      <Text color="fg.muted" data-testid="cron-on-demand" fontSize="xs">
        On demand: it runs only when triggered (Run now, or Trigger in Airflow).
      </Text>
    );
  }
  if (preview.status === "invalid" || preview.status === "error") {
    return (
      <Text color="fg.error" data-testid="cron-error" fontSize="xs">
        {preview.error}
      </Text>
    );
  }
  return (
    <Box aria-busy={preview.status === "loading"} fontSize="xs" opacity={preview.status === "loading" ? 0.6 : 1}>
      <Text color="fg.muted">Next runs:</Text>
      <List.Root data-testid="cron-next-runs" gap={0} ps={4}>
        {preview.nextRuns.map((time) => (
          <List.Item data-testid="cron-next-run" fontFamily="mono" key={time}>
            {formatRunTime(time)}
          </List.Item>
        ))}
      </List.Root>
      {preview.status === "loading" && preview.nextRuns.length === 0 && <Text color="fg.muted">checking…</Text>}
    </Box>
  );
};

const TextField = ({ label, field, value, onChange, error, helper, placeholder, optional, ...rest }) => (
  <Field.Root invalid={Boolean(error)} {...rest}>
    <Field.Label>
      {label}
      {optional && (
        <Text as="span" color="fg.muted" fontWeight="normal">
          (optional)
        </Text>
      )}
    </Field.Label>
    <Input
      data-testid={`assoc-${field}`}
      fontFamily={field.endsWith("_path") || field === "schedule" ? "mono" : undefined}
      onChange={(event) => onChange(event.target.value)}
      placeholder={placeholder}
      size="sm"
      value={value}
    />
    {helper && <Field.HelperText as="div">{helper}</Field.HelperText>}
    <FieldError error={error} field={field} />
  </Field.Root>
);

const FIELDS = ["workflow", "model_ref", "schedule", "input_path", "output_path", "policy", "output_format", "key_columns", "name"];

export const AssociationForm = ({ modelName, aliases, versions, latestVersion, options, onCreated }) => {
  const first = (list, preferred) => (list?.includes(preferred) ? preferred : (list?.[0] ?? ""));
  const ref = defaultRef(aliases, latestVersion);
  const [form, setForm] = useState(() => ({
    workflow: first(options.workflows, "batch_scoring"),
    model_ref: ref === "" ? "" : /^\d+$/.test(ref) ? `${modelName}/${ref}` : `${modelName}@${ref}`,
    schedule: "",
    input_path: "",
    output_path: "",
    policy: first(options.policies, "quarantine"),
    output_format: first(options.formats, "parquet"),
    key_columns: "",
    name: "",
  }));
  const [errors, setErrors] = useState({});
  const [generalError, setGeneralError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState(null);
  const createdRef = useRef(null);
  const formRef = useRef(null);
  useEffect(() => {
    if (created) createdRef.current?.scrollIntoView({ block: "nearest" });
  }, [created]);
  const preview = useCronPreview(form.schedule);

  const set = (field) => (value) => {
    setForm((previous) => ({ ...previous, [field]: value }));
    setErrors((previous) => ({ ...previous, [field]: undefined }));
  };

  const save = async (event) => {
    event?.preventDefault();
    const missing = {};
    if (!form.input_path.trim()) missing.input_path = "An input path is required.";
    if (!form.output_path.trim()) missing.output_path = "An output path is required.";
    if (!form.model_ref) missing.model_ref = "Choose a version or an alias.";
    setErrors(missing);
    setGeneralError(null);
    if (Object.keys(missing).length) {
      const field = Object.keys(missing)[0];
      requestAnimationFrame(() => formRef.current?.querySelector(`[data-testid="assoc-${field}"]`)?.focus());
      return;
    }
    const keys = form.key_columns
      .split(",")
      .map((column) => column.trim())
      .filter(Boolean);
    const body = {
      model_ref: form.model_ref,
      workflow: form.workflow,
      schedule: form.schedule.trim() === "" ? null : form.schedule.trim(),
      input_path: form.input_path.trim(),
      output_path: form.output_path.trim(),
      policy: form.policy,
      output_format: form.output_format,
      key_columns: keys.length ? keys : null,
      name: form.name.trim() === "" ? null : form.name.trim(),
    };
    setBusy(true);
    setCreated(null);
    try {
      const association = await api("associations", { method: "POST", body });
      setCreated(association);
      onCreated?.(association);
    } catch (error) {
      if (error.field && FIELDS.includes(error.field)) {
        setErrors({ [error.field]: error.message });
        const field = error.field;
        requestAnimationFrame(() => formRef.current?.querySelector(`[data-testid="assoc-${field}"]`)?.focus());
      } else setGeneralError(error);
    } finally {
      setBusy(false);
    }
  };

  const roots = options.data_roots ?? [];
  const rootHint = roots[0] ?? "/data";
  return (
    <Stack as="form" data-testid="association-form" gap={4} noValidate onSubmit={save} ref={formRef}>
      <Grid gap={4} templateColumns={{ base: "1fr", md: "1fr 1fr" }}>
        <SelectField
          error={errors.workflow}
          field="workflow"
          label="Workflow"
          onChange={set("workflow")}
          options={(options.workflows ?? []).map((w) => ({ value: w, label: w }))}
          testId="assoc-workflow"
          value={form.workflow}
        />
        <SelectField
          error={errors.model_ref}
          field="model_ref"
          helper="An alias is resolved at each run; a version stays fixed."
          label="Version or alias"
          onChange={set("model_ref")}
          options={refOptions(aliases, versions, { prefix: modelName })}
          testId="assoc-model_ref"
          value={form.model_ref}
        />
        <TextField
          error={errors.schedule}
          field="schedule"
          helper={errors.schedule && preview.status === "invalid" ? undefined : <CronPreview preview={preview} />}
          label="Schedule (cron, UTC)"
          onChange={set("schedule")}
          placeholder="0 2 * * *  (empty: on demand)"
          value={form.schedule}
        />
        <TextField
          error={errors.name}
          field="name"
          helper={`The DAG is score__${form.name.trim() || "<generated name>"}.`}
          label="Name "
          onChange={set("name")}
          optional
          placeholder="nightly"
          value={form.name}
        />
        <TextField
          error={errors.input_path}
          field="input_path"
          helper={
            roots.length ? (
              <span data-testid="data-roots">
                Under {roots.length > 1 ? "one of " : ""}
                {roots.map((root, index) => (
                  <span key={root}>
                    {index > 0 && ", "}
                    <Code size="sm">{root}</Code>
                  </span>
                ))}
              </span>
            ) : undefined
          }
          label="Input path"
          onChange={set("input_path")}
          placeholder={`${rootHint}/in`}
          value={form.input_path}
        />
        <TextField
          error={errors.output_path}
          field="output_path"
          helper={
            <span>
              Under the same data roots; <Code size="sm">{"{{ ds }}"}</Code> is the run's date.
            </span>
          }
          label="Output path"
          onChange={set("output_path")}
          placeholder={`${rootHint}/out/{{ ds }}`}
          value={form.output_path}
        />
        <SelectField
          error={errors.policy}
          field="policy"
          helper="What happens to rows that fail the model's expectations."
          label="Validation policy"
          onChange={set("policy")}
          options={(options.policies ?? []).map((p) => ({ value: p, label: p }))}
          testId="assoc-policy"
          value={form.policy}
        />
        <SelectField
          error={errors.output_format}
          field="output_format"
          label="Output format"
          onChange={set("output_format")}
          options={(options.formats ?? []).map((f) => ({ value: f, label: f }))}
          testId="assoc-output_format"
          value={form.output_format}
        />
        <TextField
          error={errors.key_columns}
          field="key_columns"
          helper="Comma separated; copied from input to output beside the predictions."
          label="Key columns "
          onChange={set("key_columns")}
          optional
          placeholder="customer_id, order_id"
          value={form.key_columns}
        />
      </Grid>
      {generalError && <ErrorAlert error={generalError} title="The association was not saved" />}
      {created && (
        <Alert.Root data-testid="assoc-created" ref={createdRef} status="success">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>
              Created the scoring DAG{" "}
              <AirflowLink data-testid="assoc-created-dag" fontFamily="mono" to={created.airflow_url ?? `dags/${created.dag_id}`}>
                {created.dag_id} <ExternalIcon />
              </AirflowLink>
            </Alert.Title>
            <Alert.Description>
              It appears in Airflow, unpaused, within seconds.{" "}
              {created.next_run ? `Next run: ${formatRunTime(created.next_run)}.` : "It runs on demand."}
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}
      <HStack justifyContent="flex-end">
        <Button colorPalette="brand" data-testid="assoc-save" loading={busy} type="submit">
          Save association
        </Button>
      </HStack>
    </Stack>
  );
};

const AssociationEntry = ({ association, canChange, onChanged }) => {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const [run, setRun] = useState(null);
  const href = association.airflow_url ?? `dags/${association.dag_id}`;

  const remove = async () => {
    setBusy("remove");
    setError(null);
    try {
      await api(["associations", association.name], { method: "DELETE", body: {} });
      setConfirming(false);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const runNow = async () => {
    setBusy("run");
    setError(null);
    try {
      setRun(await api(["associations", association.name, "run"], { method: "POST", body: {} }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <Box
      borderColor="border"
      borderRadius="md"
      borderWidth="1px"
      data-name={association.name}
      data-testid="association"
      p={3}
    >
      <HStack alignItems="flex-start" flexWrap="wrap" gap={3} justifyContent="space-between">
        <Stack gap={1} minW={0}>
          <HStack flexWrap="wrap" gap={2}>
            <AirflowLink fontFamily="mono" fontSize="sm" fontWeight="semibold" to={href}>
              {association.dag_id}
            </AirflowLink>
            <Muted>
              {association.workflow} · {association.model_ref}
            </Muted>
          </HStack>
          <HStack flexWrap="wrap" fontSize="sm" gap={3}>
            <Text>
              <Muted>Schedule </Muted>
              {association.schedule ? <Code size="sm">{association.schedule}</Code> : "on demand"}
            </Text>
            {association.next_run && (
              <Text>
                <Muted>Next run </Muted>
                <Time iso={association.next_run} />
              </Text>
            )}
            {association.policy && (
              <Text>
                <Muted>Policy </Muted>
                {association.policy}
              </Text>
            )}
          </HStack>
          <Text color="fg.muted" fontFamily="mono" fontSize="xs" wordBreak="break-all">
            {association.input_path} → {association.output_path}
          </Text>
        </Stack>
        {canChange && (
          <HStack gap={2}>
            <Button loading={busy === "run"} onClick={runNow} size="xs" variant="outline">
              <PlayIcon />
              Run now
            </Button>
            <Button colorPalette="danger" onClick={() => setConfirming(true)} size="xs" variant="outline">
              <TrashIcon />
              Remove
            </Button>
          </HStack>
        )}
      </HStack>
      {confirming && (
        <Alert.Root data-testid="association-remove-confirm" mt={3} status="warning">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>Remove {association.name}?</Alert.Title>
            <Alert.Description>Its DAG {association.dag_id} goes away with it.</Alert.Description>
          </Alert.Content>
          <HStack alignSelf="center" gap={2}>
            <Button onClick={() => setConfirming(false)} size="xs" variant="outline">
              Cancel
            </Button>
            <Button colorPalette="danger" data-testid="association-remove-confirm-button" loading={busy === "remove"} onClick={remove} size="xs">
              Confirm
            </Button>
          </HStack>
        </Alert.Root>
      )}
      {error && <ErrorAlert error={error} mt={3} title="That did not work" />}
      {run && (
        <Box mt={3}>
          <Separator mb={3} />
          <WorkflowProgress initialRun={run} onFinished={() => onChanged?.()} />
        </Box>
      )}
    </Box>
  );
};

export const AssociationList = ({ associations, canChange, onChanged, emptyText = "No scoring workflow is associated with this model yet." }) =>
  associations?.length ? (
    <Stack data-testid="association-list" gap={2}>
      {associations.map((association) => (
        <AssociationEntry association={association} canChange={canChange} key={association.name} onChanged={onChanged} />
      ))}
    </Stack>
  ) : (
    <Text color="fg.muted" data-testid="associations-empty" fontSize="sm">
      {emptyText}
    </Text>
  );

// The dialog's body once the model and the workflows are loaded: the form (for those who may
// change), then the model's associations.
const AssociationPanels = ({ model, canChange, detail, workflows, onChanged }) => (
  <Stack gap={6}>
    {canChange && (
      <AssociationForm
        aliases={detail.model?.aliases ?? {}}
        latestVersion={detail.model?.latest_version}
        modelName={model.name}
        onCreated={onChanged}
        options={workflows}
        versions={detail.versions ?? []}
      />
    )}
    <Stack gap={2}>
      <Text fontWeight="semibold">Associated scoring workflows</Text>
      <AssociationList
        associations={detail.associations ?? detail.model?.associations ?? []}
        canChange={canChange}
        onChanged={onChanged}
      />
    </Stack>
  </Stack>
);

export const AssociationDialog = ({ model, canChange, onClose, onChanged }) => {
  const detail = useApi(["models", model.name]);
  const workflows = useApi("workflows");
  const changed = () => {
    detail.reload();
    onChanged?.();
  };
  const loaded = Boolean(detail.data && workflows.data);
  return (
    <LoadingModal
      error={loaded ? null : detail.error ?? workflows.error}
      errorTitle="Cannot load the form"
      loading={(detail.loading && !detail.data) || (workflows.loading && !workflows.data)}
      onClose={onClose}
      size="xl"
      testId="association-dialog"
      title={`Associate Scoring Workflow: ${model.name}`}
    >
      <AssociationPanels
        canChange={canChange}
        detail={detail.data}
        model={model}
        onChanged={changed}
        workflows={workflows.data}
      />
    </LoadingModal>
  );
};
