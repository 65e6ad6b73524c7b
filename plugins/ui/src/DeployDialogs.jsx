// Deploy Model, Undeploy and Rollback: each starts an Airflow DAG run and then shows its steps.
import { Alert, Button, Field, HStack, Input, Stack, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { api, useApi } from "./api.js";
import { ErrorAlert, FieldError, SelectField, StateBadge, refOptions } from "./common.jsx";
import { defaultRef } from "./format.js";
import { ConfirmFooter, LoadingModal, Modal } from "./Modal.jsx";
import { WorkflowProgress } from "./WorkflowProgress.jsx";

const CurrentDeployment = ({ deployment }) => {
  if (!deployment) return <Text color="fg.muted" fontSize="sm">This model has never been deployed.</Text>;
  return (
    <HStack flexWrap="wrap" fontSize="sm" gap={2}>
      <Text>Current deployment:</Text>
      <StateBadge deployment state={deployment.status} />
      <Text>v{deployment.model_version}</Text>
      {deployment.url && (
        <Text color="fg.muted" fontFamily="mono">
          {deployment.url}
        </Text>
      )}
    </HStack>
  );
};

// POST a route that starts a workflow run: {run, busy, error, start(path, body)}.
export const useStartRun = (onChanged) => {
  const [run, setRun] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const start = async (path, body) => {
    setBusy(true);
    setError(null);
    try {
      setRun(await api(path, { method: "POST", body }));
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, start };
};

export const DeployDialog = ({ model, onClose, onChanged }) => {
  const detail = useApi(["models", model.name]);
  const [ref, setRef] = useState("");
  const [port, setPort] = useState("");
  const [replicas, setReplicas] = useState("");
  const [runtime, setRuntime] = useState("auto");
  const { run, busy, error, start } = useStartRun(onChanged);
  const [previous] = useState(model.deployment ?? null);

  const versions = detail.data?.versions ?? [];
  const aliases = detail.data?.model?.aliases ?? model.aliases ?? {};
  const latest = detail.data?.model?.latest_version ?? model.latest_version;
  useEffect(() => {
    if (detail.data && ref === "") setRef(defaultRef(aliases, latest));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [detail.data]);

  const portError = port !== "" && !/^\d{1,5}$/.test(port.trim()) ? "A port is a number from 1 to 65535." : null;
  const replicasError =
    replicas !== "" && !(/^\d{1,2}$/.test(replicas.trim()) && Number(replicas) >= 1 && Number(replicas) <= 16)
      ? "Replicas is a number from 1 to 16."
      : null;
  const fieldError = (name) => (error?.field === name ? error.message : null);
  const optionalNumber = (text) => (text.trim() === "" ? null : Number(text.trim()));
  const confirm = () => {
    if (portError || replicasError || !ref) return;
    start(["models", model.name, "deploy"], { ref, port: optionalNumber(port), replicas: optionalNumber(replicas), runtime });
  };

  return (
    <LoadingModal
      confirm={
        <Button
          colorPalette="brand"
          data-testid="deploy-confirm"
          disabled={!ref || Boolean(portError || replicasError) || !detail.data}
          loading={busy}
          onClick={confirm}
        >
          Confirm
        </Button>
      }
      error={detail.error}
      errorTitle="Cannot load the model's versions"
      loading={detail.loading && !detail.data}
      onClose={onClose}
      progress={run && <WorkflowProgress initialRun={run} onFinished={() => onChanged?.()} previousDeployment={previous} />}
      testId="deploy-dialog"
      title={`Deploy ${model.name}`}
    >
      <Stack gap={4}>
        <CurrentDeployment deployment={model.deployment} />
        <SelectField
          error={fieldError("ref")}
          field="ref"
          helper="An alias follows the version it points to at deploy time."
          label="Version or alias"
          onChange={setRef}
          options={refOptions(aliases, versions)}
          testId="deploy-ref"
          value={ref}
        />
        <Field.Root invalid={Boolean(portError || fieldError("port"))}>
          <Field.Label>
            Port <Text as="span" color="fg.muted" fontWeight="normal">(optional)</Text>
          </Field.Label>
          <Input
            data-testid="deploy-port"
            inputMode="numeric"
            onChange={(event) => setPort(event.target.value)}
            onKeyDown={(event) => event.key === "Enter" && confirm()}
            placeholder="chosen by the serving worker"
            size="sm"
            value={port}
          />
          <FieldError error={portError ?? fieldError("port")} field="port" />
        </Field.Root>
        <Field.Root invalid={Boolean(replicasError || fieldError("replicas"))}>
          <Field.Label>
            Replicas <Text as="span" color="fg.muted" fontWeight="normal">(optional)</Text>
          </Field.Label>
          <Input
            data-testid="deploy-replicas"
            inputMode="numeric"
            onChange={(event) => setReplicas(event.target.value)}
            onKeyDown={(event) => event.key === "Enter" && confirm()}
            placeholder="the platform's default"
            size="sm"
            value={replicas}
          />
          <FieldError error={replicasError ?? fieldError("replicas")} field="replicas" />
        </Field.Root>
        <SelectField
          error={fieldError("runtime")}
          field="runtime"
          helper="Automatic serves a compiled runtime (ONNX Runtime) where it gives the model's own labels, and probabilities within 1e-5, faster; the deployment shows what was chosen and why."
          label="Runtime"
          onChange={setRuntime}
          options={[
            { value: "auto", label: "Automatic: compiled where faster, at parity" },
            { value: "native", label: "Native: the model's own library" },
          ]}
          testId="deploy-runtime"
          value={runtime}
        />
        <Text color="fg.muted" fontSize="sm">
          The deploy workflow builds a Bento, launches its replicas beside the current deployment, checks each
          one's health and prediction parity, then promotes them behind the model's endpoint. If any step fails, the current deployment keeps serving.
        </Text>
        {error && !error.field && <ErrorAlert error={error} title="The deployment was not started" />}
      </Stack>
    </LoadingModal>
  );
};

const CONFIRM_TEXT = {
  undeploy: {
    title: "Undeploy",
    verb: "Undeploy",
    body: (model) =>
      `Stop serving ${model.name}${model.deployment?.url ? ` at ${model.deployment.url}` : ""}? Its endpoint stops answering, ` +
      `its port is freed for any later deploy, and the production alias is removed.`,
  },
  rollback: {
    title: "Rollback",
    verb: "Roll back",
    body: (model) =>
      `Serve ${model.rollback?.to_version != null ? `v${model.rollback.to_version}` : "the previously deployed version"} of ${
        model.name
      } again, in place of${model.deployment ? ` v${model.deployment.model_version}` : " the current one"}?`,
  },
};

// Undeploy and Rollback: a confirmation, then the same progress view as Deploy.
export const WorkflowConfirmDialog = ({ kind, model, onClose, onChanged }) => {
  const text = CONFIRM_TEXT[kind];
  const { run, busy, error, start } = useStartRun(onChanged);
  const [previous] = useState(model.deployment ?? null);
  const footer = (
    <ConfirmFooter
      confirm={
        !run && (
          <Button
            colorPalette={kind === "undeploy" ? "danger" : "brand"}
            data-testid={`${kind}-confirm`}
            loading={busy}
            onClick={() => start(["models", model.name, kind], {})}
          >
            {text.verb}
          </Button>
        )
      }
      onClose={onClose}
    />
  );
  return (
    <Modal footer={footer} onClose={onClose} testId={`${kind}-dialog`} title={`${text.title} ${model.name}`}>
      {run ? (
        <WorkflowProgress initialRun={run} onFinished={() => onChanged?.()} previousDeployment={previous} />
      ) : (
        <Stack gap={4}>
          <CurrentDeployment deployment={model.deployment} />
          <Text data-testid={`${kind}-consequence`}>{text.body(model)}</Text>
          {error && (
            <Alert.Root status="error">
              <Alert.Indicator />
              <Alert.Content>
                <Alert.Title>{`${text.title} was not started`}</Alert.Title>
                <Alert.Description data-testid="error-message">{error.message}</Alert.Description>
              </Alert.Content>
            </Alert.Root>
          )}
        </Stack>
      )}
    </Modal>
  );
};
