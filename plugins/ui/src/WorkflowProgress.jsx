// The progress of one Airflow DAG run started by the page (deploy, rollback, undeploy, a challenge
// or a scoring run): polls `GET workflow-runs/{dag_id}/{run_id}` about once a second until it ends.
import { Alert, Box, Clipboard, Code, HStack, IconButton, Spinner, Stack, Text } from "@chakra-ui/react";
import { useEffect, useRef, useState } from "react";

import { api } from "./api.js";
import { AirflowLink, Muted, StateBadge } from "./common.jsx";
import { formatCount, formatDuration } from "./format.js";
import { CheckIcon, CopyIcon, ExternalIcon, MinusIcon, XIcon } from "./icons.jsx";

const FINISHED = new Set(["success", "failed"]);
const POLL_MS = 1000;

export const useWorkflowRun = (initialRun, { onFinished } = {}) => {
  const [run, setRun] = useState(initialRun);
  const [pollError, setPollError] = useState(null);
  const finishedRef = useRef(onFinished);
  finishedRef.current = onFinished;

  useEffect(() => {
    setRun(initialRun);
    setPollError(null);
    if (!initialRun) return undefined;
    let cancelled = false;
    let timer = null;
    let failures = 0;
    const controller = new AbortController();
    const finish = (value) => finishedRef.current?.(value);
    const poll = async () => {
      try {
        const next = await api(["workflow-runs", initialRun.dag_id, initialRun.run_id], { signal: controller.signal });
        if (cancelled) return;
        failures = 0;
        setPollError(null);
        setRun(next);
        if (FINISHED.has(next.state)) {
          finish(next);
          return;
        }
      } catch (error) {
        if (cancelled || error?.name === "AbortError") return;
        failures += 1;
        setPollError(error);
        // An unknown run will not appear later; anything else may be a blip: keep trying a while.
        if (error.status === 404 || failures >= 30) return;
      }
      timer = setTimeout(poll, POLL_MS);
    };
    if (FINISHED.has(initialRun.state)) finish(initialRun);
    else timer = setTimeout(poll, POLL_MS);
    return () => {
      cancelled = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [initialRun]);

  return { run, pollError };
};

const STEP_LOOK = {
  success: { palette: "success", icon: <CheckIcon size="14px" strokeWidth={3} /> },
  failed: { palette: "failed", icon: <XIcon size="14px" strokeWidth={3} /> },
  upstream_failed: { palette: "upstream_failed", icon: <MinusIcon size="14px" strokeWidth={3} /> },
  skipped: { palette: "skipped", icon: <MinusIcon size="14px" strokeWidth={3} /> },
  running: { palette: "running", icon: <Spinner borderWidth="2px" size="xs" /> },
  queued: { palette: "queued", icon: null },
  scheduled: { palette: "scheduled", icon: null },
};

const Step = ({ step, index, last }) => {
  const state = step.state ?? null;
  const look = STEP_LOOK[state] ?? { palette: "none", icon: null };
  const filled = state !== null && state !== "queued" && state !== "scheduled";
  return (
    <HStack
      alignItems="flex-start"
      data-state={state ?? "none"}
      data-step={step.name}
      data-testid="workflow-step"
      flex={last ? "0 0 auto" : "1 1 0"}
      gap={0}
      minW={0}
    >
      <Stack alignItems="center" gap={1} minW="72px">
        <Box
          alignItems="center"
          bg={filled ? "colorPalette.solid" : "bg"}
          borderColor={state === null ? "border.emphasized" : "colorPalette.solid"}
          borderRadius="full"
          borderStyle={state === "queued" || state === "scheduled" ? "dashed" : "solid"}
          borderWidth="2px"
          boxSize="28px"
          color={filled ? "colorPalette.contrast" : "fg.muted"}
          colorPalette={look.palette}
          display="flex"
          fontSize="xs"
          fontWeight="semibold"
          justifyContent="center"
        >
          {look.icon ?? index + 1}
        </Box>
        <Text fontSize="sm" fontWeight="medium" textAlign="center">
          {step.label ?? step.name}
        </Text>
        <Text color="fg.muted" fontSize="xs" textAlign="center">
          {state ? state.replace("_", " ") : "not started"}
        </Text>
      </Stack>
      {!last && (
        <Box
          alignSelf="flex-start"
          bg={state === "success" ? "success.solid" : "border.emphasized"}
          flex="1"
          h="2px"
          minW={2}
          mt="13px"
        />
      )}
    </HStack>
  );
};

export const CopyLine = ({ value, testId, label = "Copy" }) => (
  <HStack alignItems="stretch" gap={1} w="100%">
    <Code
      data-testid={testId}
      display="block"
      flex="1"
      fontSize="xs"
      overflowX="auto"
      px={2}
      py={1.5}
      whiteSpace="pre-wrap"
      wordBreak="break-all"
    >
      {value}
    </Code>
    <Clipboard.Root timeout={1500} value={value}>
      <Clipboard.Trigger asChild>
        <IconButton aria-label={label} size="sm" title={label} variant="outline">
          <Clipboard.Indicator copied={<CheckIcon />}>
            <CopyIcon />
          </Clipboard.Indicator>
        </IconButton>
      </Clipboard.Trigger>
    </Clipboard.Root>
  </HStack>
);

// What a finished scoring run recorded: its rows and where the scores went.
const ScoringResult = ({ record }) => (
  <Alert.Root data-testid="scoring-result" status="success" variant="subtle">
    <Alert.Indicator />
    <Alert.Content gap={2} minW={0}>
      <Alert.Title>
        v{record.model_version} scored {formatCount(record.rows_scored)} of {formatCount(record.rows_in)} rows
      </Alert.Title>
      <HStack flexWrap="wrap" fontSize="sm" gap={4}>
        <Text data-testid="scoring-rows-in">
          <Muted>Rows in </Muted>
          {formatCount(record.rows_in)}
        </Text>
        <Text data-testid="scoring-rows-scored">
          <Muted>Scored </Muted>
          {formatCount(record.rows_scored)}
        </Text>
        <Text color={record.rows_rejected ? "fg.warning" : undefined} data-testid="scoring-rows-rejected">
          <Muted>Rejected </Muted>
          {formatCount(record.rows_rejected ?? 0)}
        </Text>
        {record.duration_s != null && (
          <Text>
            <Muted>Took </Muted>
            {formatDuration(record.duration_s)}
          </Text>
        )}
      </HStack>
      <Stack gap={1} w="100%">
        <Text fontSize="sm">Output:</Text>
        <CopyLine label="Copy output path" testId="scoring-output" value={record.output_path} />
      </Stack>
    </Alert.Content>
  </Alert.Root>
);

const TITLES = {
  deploy_model: "Deployment",
  rollback_model: "Rollback",
  undeploy_model: "Undeploy",
  challenge_model: "Challenge",
};

// previousDeployment: the model's deployment before this run (for the failure note).
export const WorkflowProgress = ({ initialRun, previousDeployment = null, onFinished }) => {
  const { run, pollError } = useWorkflowRun(initialRun, { onFinished });
  if (!run) return null;
  const steps = run.steps ?? [];
  const title = TITLES[run.dag_id] ?? (run.dag_id?.startsWith("score__") || run.dag_id === "batch_scoring" ? "Scoring run" : "Run");
  const failed = run.state === "failed";
  const done = FINISHED.has(run.state);
  const serving = previousDeployment && previousDeployment.status === "running" ? previousDeployment : null;
  const servesModel = run.dag_id === "deploy_model" || run.dag_id === "rollback_model";
  const failedStep = run.failure ? steps.find((s) => s.name === run.failure.step) : null;

  return (
    <Stack data-testid="workflow-progress" gap={4}>
      <HStack justifyContent="space-between" flexWrap="wrap" gap={2}>
        <HStack data-state={run.state} data-testid="workflow-state" gap={2}>
          {!done && <Spinner colorPalette="running" size="sm" />}
          <Text fontWeight="semibold">
            {title} {done ? (failed ? "failed" : "succeeded") : run.state === "queued" ? "queued" : "in progress"}
          </Text>
          <StateBadge state={run.state} />
        </HStack>
        {run.airflow_url && (
          <AirflowLink data-testid="workflow-airflow-link" fontSize="sm" to={run.airflow_url}>
            View run in Airflow <ExternalIcon />
          </AirflowLink>
        )}
      </HStack>
      <Text color="fg.muted" fontSize="xs" mt={-2}>
        {run.dag_id} · {run.run_id}
        {run.requested_by ? ` · requested by ${run.requested_by}` : ""}
      </Text>

      <HStack alignItems="flex-start" data-testid="workflow-steps" gap={0} overflowX="auto" pb={1}>
        {steps.map((step, index) => (
          <Step index={index} key={step.name} last={index === steps.length - 1} step={step} />
        ))}
      </HStack>

      {pollError && !done && (
        <Alert.Root size="sm" status="warning">
          <Alert.Indicator />
          <Alert.Description>Cannot read the run's state: {pollError.message} Retrying…</Alert.Description>
        </Alert.Root>
      )}

      {failed && (
        <Alert.Root data-testid="workflow-failure" status="error">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>
              {run.failure
                ? `Failed at ${failedStep?.label ?? run.failure.step} (${run.failure.step})`
                : "The run failed"}
            </Alert.Title>
            <Alert.Description>
              <Stack gap={1}>
                {run.failure?.reason && <Text whiteSpace="pre-wrap">{run.failure.reason}</Text>}
                {!run.failure && run.scoring_run?.error && <Text whiteSpace="pre-wrap">{run.scoring_run.error}</Text>}
                {!run.failure && <Text>See the run's task logs in Airflow.</Text>}
                {servesModel && (
                  <Text data-testid="previous-still-serving">
                    {serving
                      ? `The previous deployment (v${serving.model_version}${serving.url ? ` at ${serving.url}` : ""}) is still serving.`
                      : "No previous deployment was serving, so nothing is serving this model now."}
                  </Text>
                )}
              </Stack>
            </Alert.Description>
          </Alert.Content>
        </Alert.Root>
      )}

      {run.state === "success" && run.deployment && (
        <Alert.Root status="success" variant="subtle">
          <Alert.Indicator />
          <Alert.Content gap={2} minW={0}>
            <Alert.Title>
              v{run.deployment.model_version} is serving at{" "}
              <Text as="span" data-testid="deploy-url" fontFamily="mono">
                {run.deployment.url}
              </Text>
            </Alert.Title>
            {run.deployment.curl && (
              <Stack gap={1} w="100%">
                <Text fontSize="sm">Try it:</Text>
                <CopyLine label="Copy curl command" testId="deploy-curl" value={run.deployment.curl} />
              </Stack>
            )}
          </Alert.Content>
        </Alert.Root>
      )}
      {run.state === "success" && run.scoring_run && <ScoringResult record={run.scoring_run} />}
      {run.state === "success" && !run.deployment && run.dag_id === "undeploy_model" && (
        <Alert.Root status="success" variant="subtle">
          <Alert.Indicator />
          <Alert.Content>
            <Alert.Title>The model is no longer served.</Alert.Title>
            {run.undeployed?.message && (
              <Alert.Description data-testid="undeploy-result">{run.undeployed.message}.</Alert.Description>
            )}
          </Alert.Content>
        </Alert.Root>
      )}
    </Stack>
  );
};
