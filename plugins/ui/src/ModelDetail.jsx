// One model (`/plugin/models/<name>`): versions and metrics, plots, deployments, scoring runs with
// their drift, associations, expectations and the event history.
import {
  Badge,
  Box,
  Button,
  Code,
  Field,
  Grid,
  HStack,
  Heading,
  Image,
  Input,
  Link,
  Stack,
  Table,
  Text,
  Textarea,
} from "@chakra-ui/react";
import { useEffect, useMemo, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { ActionDialog, ModelActions } from "./Actions.jsx";
import { AssociationList } from "./Associations.jsx";
import { ChallengeSection } from "./ChallengeSection.jsx";
import { api, apiUrl, useApi, useWhoami } from "./api.js";
import {
  AliasBadges,
  ErrorAlert,
  FieldError,
  HealthDot,
  Loading,
  Muted,
  Section,
  SelectField,
  StateBadge,
  Time,
  versionOptions,
} from "./common.jsx";
import { DriftChart } from "./DriftChart.jsx";
import { MonitoringSection } from "./Monitoring.jsx";
import { formatCount, formatDuration, formatMetric, formatRate } from "./format.js";
import { ArrowLeftIcon, LinkIcon, TrashIcon } from "./icons.jsx";

const BackLink = () => (
  <Link asChild color="fg.info" fontSize="sm">
    <RouterLink data-testid="back-to-models" to="/plugin/models">
      <ArrowLeftIcon />
      All Models
    </RouterLink>
  </Link>
);

const Empty = ({ children, testId }) => (
  <Text color="fg.muted" data-testid={testId} fontSize="sm">
    {children}
  </Text>
);

const ScrollTable = ({ children, testId, ...rest }) => (
  <Table.ScrollArea borderColor="border" borderRadius="md" borderWidth="1px">
    <Table.Root data-testid={testId} size="sm" striped {...rest}>
      {children}
    </Table.Root>
  </Table.ScrollArea>
);

const Header = ({ cells }) => (
  <Table.Header>
    <Table.Row>
      {cells.map((cell, index) => (
        <Table.ColumnHeader key={index} whiteSpace="nowrap">
          {cell}
        </Table.ColumnHeader>
      ))}
    </Table.Row>
  </Table.Header>
);

// ---- aliases -------------------------------------------------------------------------------

const AliasForm = ({ modelName, versions, aliases, onChanged }) => {
  const [alias, setAlias] = useState("");
  const [version, setVersion] = useState(versions.length ? String(versions[0].version) : "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const suggestions = Array.from(new Set([...Object.keys(aliases ?? {}), "champion", "challenger", "production"]));
  useEffect(() => {
    const current = aliases?.[alias.trim()];
    if (current !== undefined) setVersion(String(current));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [alias]);

  const save = async (event) => {
    event.preventDefault();
    const name = alias.trim();
    if (!name) {
      setError({ field: "alias", message: "Name the alias." });
      return;
    }
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await api(["models", modelName, "aliases", name], { method: "PUT", body: { version: Number(version) } });
      setDone(`Set ${name} → v${version}.`);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (name) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const removed = await api(["models", modelName, "aliases", name], { method: "DELETE", body: {} });
      setDone(`Removed ${removed.alias} (it pointed at v${removed.version}).`);
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const aliasError = error && (error.field === "alias" || !error.field) ? error.message : null;
  const versionError = error && error.field === "version" ? error.message : null;
  return (
    <Box as="form" data-testid="alias-form" noValidate onSubmit={save}>
      <HStack alignItems="flex-start" flexWrap="wrap" gap={3}>
        <Field.Root invalid={Boolean(aliasError)} w="14rem">
          <Field.Label>Alias</Field.Label>
          <Input
            data-testid="alias-name"
            list="modelyard-alias-suggestions"
            onChange={(event) => setAlias(event.target.value)}
            placeholder="e.g. champion"
            size="sm"
            value={alias}
          />
          <datalist id="modelyard-alias-suggestions">
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
          <FieldError error={aliasError} field="alias" />
        </Field.Root>
        <SelectField
          error={versionError}
          field="version"
          label="Version"
          onChange={setVersion}
          options={versionOptions(versions)}
          testId="alias-version"
          value={version}
          w="14rem"
        />
        <Button colorPalette="brand" data-testid="alias-save" loading={busy} mt={6} size="sm" type="submit">
          Set alias
        </Button>
        {done && (
          <Text color="fg.success" data-testid="alias-saved" fontSize="sm" mt={7}>
            {done}
          </Text>
        )}
      </HStack>
      {Object.keys(aliases ?? {}).length > 0 && (
        <HStack data-testid="alias-list" flexWrap="wrap" gap={2} mt={3}>
          <Text color="fg.muted" fontSize="sm">
            Remove:
          </Text>
          {Object.entries(aliases)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, number]) => (
              <Button
                aria-label={`Remove alias ${name}`}
                data-alias={name}
                data-testid="alias-remove"
                disabled={busy}
                key={name}
                onClick={() => remove(name)}
                size="xs"
                variant="outline"
              >
                <TrashIcon />
                {name}→v{number}
              </Button>
            ))}
        </HStack>
      )}
    </Box>
  );
};

// ---- versions and metrics -------------------------------------------------------------------

const VersionsTable = ({ versions }) => {
  const metrics = useMemo(() => {
    const names = new Set();
    for (const v of versions) {
      Object.keys(v.training_metrics ?? {}).forEach((k) => names.add(k));
      Object.keys(v.validation_metrics ?? {}).forEach((k) => names.add(k));
    }
    return Array.from(names).sort();
  }, [versions]);
  if (!versions.length) return <Empty>No versions.</Empty>;
  return (
    <ScrollTable testId="versions-table">
      <Table.Header>
        <Table.Row>
          <Table.ColumnHeader rowSpan={2}>Version</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Aliases</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Created</Table.ColumnHeader>
          <Table.ColumnHeader rowSpan={2}>Flavor / origin</Table.ColumnHeader>
          {metrics.map((metric) => (
            <Table.ColumnHeader
              borderInlineStartWidth="1px"
              colSpan={2}
              key={metric}
              textAlign="center"
              whiteSpace="nowrap"
            >
              {metric}
            </Table.ColumnHeader>
          ))}
        </Table.Row>
        <Table.Row>
          {metrics.map((metric) => [
            <Table.ColumnHeader borderInlineStartWidth="1px" color="fg.muted" fontWeight="normal" key={`${metric}-t`} textAlign="end">
              training
            </Table.ColumnHeader>,
            <Table.ColumnHeader color="fg.muted" fontWeight="normal" key={`${metric}-v`} textAlign="end">
              validation
            </Table.ColumnHeader>,
          ])}
        </Table.Row>
      </Table.Header>
      <Table.Body>
        {versions.map((v) => (
          <Table.Row data-testid="version-row" data-version={v.version} key={v.version}>
            <Table.Cell fontWeight="semibold">v{v.version}</Table.Cell>
            <Table.Cell>
              {(v.aliases ?? []).length ? (
                <HStack gap={1}>
                  {v.aliases.map((a) => (
                    <Badge colorPalette="brand" key={a} size="sm" variant="surface">
                      {a}
                    </Badge>
                  ))}
                </HStack>
              ) : (
                <Muted>—</Muted>
              )}
            </Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={v.created_at} />
            </Table.Cell>
            <Table.Cell>
              <Text fontSize="xs">
                {[v.flavor, v.task].filter(Boolean).join(" · ") || "—"}
              </Text>
              <Muted>{v.origin}</Muted>
            </Table.Cell>
            {metrics.map((metric) => [
              <Table.Cell
                borderInlineStartWidth="1px"
                fontVariantNumeric="tabular-nums"
                key={`${metric}-t`}
                textAlign="end"
              >
                {formatMetric(v.training_metrics?.[metric]) || <Muted>—</Muted>}
              </Table.Cell>,
              <Table.Cell fontVariantNumeric="tabular-nums" fontWeight="medium" key={`${metric}-v`} textAlign="end">
                {formatMetric(v.validation_metrics?.[metric]) || <Muted>—</Muted>}
              </Table.Cell>,
            ])}
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  );
};

const Plots = ({ modelName, versions }) => {
  const withPlots = versions.filter((v) => (v.plots ?? []).length);
  const [version, setVersion] = useState(String((withPlots[0] ?? versions[0])?.version ?? ""));
  const current = versions.find((v) => String(v.version) === version);
  return (
    <Stack gap={3}>
      <SelectField
        label="Version"
        onChange={setVersion}
        options={versionOptions(versions)}
        orientation="horizontal"
        testId="plots-version"
        value={version}
        w="20rem"
      />
      {(current?.plots ?? []).length ? (
        <Grid gap={4} templateColumns="repeat(auto-fill, minmax(280px, 1fr))">
          {current.plots.map((plot) => (
            <Box
              as="figure"
              borderColor="border"
              borderRadius="md"
              borderWidth="1px"
              data-plot={plot.name}
              data-testid="plot"
              key={plot.name}
              p={2}
            >
              <Image
                alt={plot.title ?? plot.name}
                borderRadius="sm"
                aspectRatio="5 / 4"
                loading="lazy"
                objectFit="contain"
                src={apiUrl(["models", modelName, "versions", current.version, "plots", `${plot.name}.png`])}
                w="100%"
              />
              <Text as="figcaption" color="fg.muted" fontSize="xs" mt={1} textAlign="center">
                {plot.title ?? plot.name}
              </Text>
            </Box>
          ))}
        </Grid>
      ) : (
        <Empty testId="plots-empty">No evaluation plots were recorded for v{version}.</Empty>
      )}
    </Stack>
  );
};

// ---- deployments and scoring runs ---------------------------------------------------------

// The endpoint (the model's gateway) is what a client calls; each replica's own port is detail.
const DeploymentsTable = ({ deployments }) =>
  deployments.length ? (
    <ScrollTable testId="deployments-table">
      <Header cells={["#", "Version", "Status", "Endpoint", "Port", "Replicas", "Bento", "By", "Created", "Updated", "Reason"]} />
      <Table.Body>
        {deployments.map((d) => (
          <Table.Row data-testid="deployment-row" key={d.id}>
            <Table.Cell>{d.id}</Table.Cell>
            <Table.Cell>v{d.model_version}</Table.Cell>
            <Table.Cell>
              <HStack gap={1.5}>
                <StateBadge deployment state={d.status} />
                {d.status === "running" && <HealthDot healthy={d.healthy} />}
              </HStack>
            </Table.Cell>
            <Table.Cell data-testid="deployment-endpoint" fontFamily="mono" fontSize="xs">
              {d.url ?? "—"}
            </Table.Cell>
            <Table.Cell data-testid="deployment-port" title="The endpoint's port: what clients call">
              {d.endpoint_port ?? "—"}
            </Table.Cell>
            <Table.Cell data-testid="deployment-replica-ports" fontSize="xs">
              <ReplicaPorts deployment={d} />
            </Table.Cell>
            <Table.Cell fontFamily="mono" fontSize="xs">
              {d.bento_tag ?? "—"}
            </Table.Cell>
            <Table.Cell>{d.created_by ?? "—"}</Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={d.created_at} />
            </Table.Cell>
            <Table.Cell>
              <Time fontSize="xs" iso={d.updated_at} />
            </Table.Cell>
            <Table.Cell color={d.status === "failed" ? "fg.error" : "fg.muted"} fontSize="xs" maxW="20rem">
              {d.status_reason ?? ""}
            </Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  ) : (
    <Empty testId="deployments-empty">This model has never been deployed.</Empty>
  );

// "2 · internal ports 36111, 36112": how many servers stand behind the endpoint, and where.
const ReplicaPorts = ({ deployment }) => {
  const replicas = deployment.replicas ?? [];
  if (!replicas.length) return <Muted>—</Muted>;
  return (
    <Stack gap={0}>
      <Text>{replicas.length}</Text>
      <Muted title="Each replica's own server, behind the endpoint" whiteSpace="nowrap">
        internal {replicas.length === 1 ? "port" : "ports"} {replicas.map((r) => r.port).join(", ")}
      </Muted>
    </Stack>
  );
};

const ScoringRuns = ({ runs }) => {
  const [chosen, setChosen] = useState(() => (runs.find((r) => r.drift && Object.keys(r.drift).length) ?? runs[0])?.id ?? null);
  if (!runs.length) return <Empty testId="scoring-runs-empty">This model was never scored.</Empty>;
  const run = runs.find((r) => r.id === chosen) ?? runs[0];
  return (
    <Stack gap={4}>
      <ScrollTable interactive testId="scoring-runs-table">
        <Header
          cells={["Run", "Status", "Version", "Policy", "Rows in", "Scored", "Rejected", "Rows/s", "Duration", "Started", ""]}
        />
        <Table.Body>
          {runs.map((r) => {
            const selected = r.id === run.id;
            return (
              <Table.Row
                aria-selected={selected}
                bg={selected ? "brand.subtle" : undefined}
                cursor="pointer"
                data-run={r.id}
                data-testid="scoring-run-row"
                key={r.id}
                onClick={() => setChosen(r.id)}
              >
                <Table.Cell fontFamily="mono" fontSize="xs" maxW="16rem" title={r.id} truncate>
                  {r.id}
                </Table.Cell>
                <Table.Cell>
                  <StateBadge state={r.status} />
                </Table.Cell>
                <Table.Cell>{r.model_version !== null && r.model_version !== undefined ? `v${r.model_version}` : "—"}</Table.Cell>
                <Table.Cell>{r.policy ?? "—"}</Table.Cell>
                <Table.Cell textAlign="end">{formatCount(r.rows_in)}</Table.Cell>
                <Table.Cell textAlign="end">{formatCount(r.rows_scored)}</Table.Cell>
                <Table.Cell color={r.rows_rejected ? "fg.warning" : undefined} textAlign="end">
                  {formatCount(r.rows_rejected)}
                </Table.Cell>
                <Table.Cell textAlign="end" whiteSpace="nowrap">
                  {formatRate(r.rows_per_s)}
                </Table.Cell>
                <Table.Cell whiteSpace="nowrap">{formatDuration(r.duration_s)}</Table.Cell>
                <Table.Cell>
                  <Time fontSize="xs" iso={r.started_at} />
                </Table.Cell>
                <Table.Cell>
                  <Button
                    data-testid="show-drift"
                    onClick={(event) => {
                      event.stopPropagation();
                      setChosen(r.id);
                    }}
                    size="xs"
                    variant={selected ? "subtle" : "ghost"}
                  >
                    Drift
                  </Button>
                </Table.Cell>
              </Table.Row>
            );
          })}
        </Table.Body>
      </ScrollTable>
      <Box data-run={run.id} data-testid="scoring-run-detail">
        <HStack flexWrap="wrap" gap={3} mb={2}>
          <Text fontWeight="semibold">Drift (PSI) of each feature</Text>
          <Muted fontFamily="mono">{run.id}</Muted>
        </HStack>
        {run.error && (
          <Text color="fg.error" fontSize="sm" mb={2} whiteSpace="pre-wrap">
            {run.error}
          </Text>
        )}
        <Text color="fg.muted" fontFamily="mono" fontSize="xs" mb={3} wordBreak="break-all">
          {run.input_path} → {run.output_path}
          {run.mlflow_run_id ? ` · MLflow run ${run.mlflow_run_id}` : ""}
        </Text>
        <DriftChart drift={run.drift} runId={run.id} />
      </Box>
    </Stack>
  );
};

// ---- expectations and events ---------------------------------------------------------------

const ExpectationForm = ({ modelName, onChanged }) => {
  const [type, setType] = useState("");
  const [kwargs, setKwargs] = useState('{"column": ""}');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const add = async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(kwargs || "{}");
    } catch (err) {
      setError({ field: "kwargs", message: `Not JSON: ${err.message}` });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api(["models", modelName, "expectations"], {
        method: "POST",
        body: { expectation_type: type.trim(), kwargs: parsed },
      });
      setType("");
      onChanged?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const typeError = error && (error.field === "expectation_type" || !error.field) ? error.message : null;
  const kwargsError = error?.field === "kwargs" ? error.message : null;
  return (
    <Box as="form" data-testid="expectation-form" noValidate onSubmit={add}>
      <HStack alignItems="flex-start" flexWrap="wrap" gap={3}>
        <Field.Root invalid={Boolean(typeError)} w="22rem">
          <Field.Label>Expectation type</Field.Label>
          <Input
            data-testid="expectation-type"
            fontFamily="mono"
            onChange={(event) => setType(event.target.value)}
            placeholder="expect_column_values_to_not_be_null"
            size="sm"
            value={type}
          />
          <FieldError error={typeError} field="expectation_type" />
        </Field.Root>
        <Field.Root flex="1" invalid={Boolean(kwargsError)} minW="16rem">
          <Field.Label>Arguments (JSON)</Field.Label>
          <Textarea
            data-testid="expectation-kwargs"
            fontFamily="mono"
            onChange={(event) => setKwargs(event.target.value)}
            rows={1}
            size="sm"
            value={kwargs}
          />
          <FieldError error={kwargsError} field="kwargs" />
        </Field.Root>
        <Button data-testid="expectation-add" disabled={!type.trim()} loading={busy} mt={6} size="sm" type="submit" variant="outline">
          Attach
        </Button>
      </HStack>
    </Box>
  );
};

const Expectations = ({ expectations, canChange, modelName, onChanged }) => {
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const remove = async (id) => {
    setError(null);
    try {
      await api(["expectations", id], { method: "DELETE", body: {} });
      setConfirm(null);
      onChanged?.();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Stack gap={3}>
      {expectations.length ? (
        <ScrollTable testId="expectations-table">
          <Header cells={["Expectation", "Arguments", "By", "Attached", ...(canChange ? [""] : [])]} />
          <Table.Body>
            {expectations.map((e) => (
              <Table.Row data-id={e.id} data-testid="expectation-row" key={e.id}>
                <Table.Cell fontFamily="mono" fontSize="xs">
                  {e.expectation_type}
                </Table.Cell>
                <Table.Cell>
                  <Code fontSize="xs" whiteSpace="pre-wrap" wordBreak="break-all">
                    {JSON.stringify(e.kwargs ?? {})}
                  </Code>
                </Table.Cell>
                <Table.Cell>{e.created_by ?? "—"}</Table.Cell>
                <Table.Cell>
                  <Time fontSize="xs" iso={e.created_at} />
                </Table.Cell>
                {canChange && (
                  <Table.Cell textAlign="end" whiteSpace="nowrap">
                    {confirm === e.id ? (
                      <HStack gap={1} justifyContent="flex-end">
                        <Button onClick={() => setConfirm(null)} size="xs" variant="ghost">
                          Cancel
                        </Button>
                        <Button colorPalette="danger" onClick={() => remove(e.id)} size="xs">
                          Confirm
                        </Button>
                      </HStack>
                    ) : (
                      <Button colorPalette="danger" onClick={() => setConfirm(e.id)} size="xs" variant="ghost">
                        <TrashIcon />
                        Remove
                      </Button>
                    )}
                  </Table.Cell>
                )}
              </Table.Row>
            ))}
          </Table.Body>
        </ScrollTable>
      ) : (
        <Empty testId="expectations-empty">No expectations are attached: scoring validates nothing but the schema.</Empty>
      )}
      {error && <ErrorAlert error={error} title="Cannot remove the expectation" />}
      {canChange && <ExpectationForm modelName={modelName} onChanged={onChanged} />}
    </Stack>
  );
};

const detailsText = (details) =>
  Object.entries(details ?? {})
    .map(([key, value]) => `${key}=${value === null ? "none" : typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");

// Long details wrap inside the table and stop after three lines; a click shows them whole
// (and the tooltip has them too).
const EventDetails = ({ text }) => {
  const [open, setOpen] = useState(false);
  if (!text) return null;
  return (
    <Text
      aria-expanded={open}
      cursor="pointer"
      data-open={open}
      lineClamp={open ? undefined : 3}
      onClick={() => setOpen(!open)}
      overflowWrap="anywhere"
      title={open ? undefined : text}
      whiteSpace="pre-wrap"
    >
      {text}
    </Text>
  );
};

const EventsTable = ({ events }) =>
  events.length ? (
    <ScrollTable testId="events-table">
      <Header cells={["When", "Who", "Action", "Version", "Details"]} />
      <Table.Body>
        {events.map((e, index) => (
          <Table.Row data-action={e.action} data-testid="event-row" key={`${e.created_at}-${index}`}>
            <Table.Cell>
              <Time fontSize="xs" iso={e.created_at} seconds />
            </Table.Cell>
            <Table.Cell>{e.actor ?? "—"}</Table.Cell>
            <Table.Cell>
              <Code size="sm">{e.action}</Code>
            </Table.Cell>
            <Table.Cell>{e.model_version !== null && e.model_version !== undefined ? `v${e.model_version}` : "—"}</Table.Cell>
            <Table.Cell color="fg.muted" data-testid="event-details" fontSize="xs" maxW="36rem" minW="14rem">
              <EventDetails text={detailsText(e.details)} />
            </Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  ) : (
    <Empty testId="events-empty">No events yet.</Empty>
  );

// ---- the page ------------------------------------------------------------------------------

const Fact = ({ label, children }) => (
  <Stack gap={0}>
    <Text color="fg.muted" fontSize="xs">
      {label}
    </Text>
    <Box fontSize="sm">{children}</Box>
  </Stack>
);

export const ModelDetail = ({ name }) => {
  const whoami = useWhoami();
  const canChange = Boolean(whoami?.can_change);
  const detail = useApi(["models", name]);
  const [action, setAction] = useState(null);

  if (detail.loading && !detail.data) {
    return (
      <Stack data-testid="model-detail" gap={4}>
        <BackLink />
        <Loading label={`Loading ${name}…`} />
      </Stack>
    );
  }
  if (!detail.data) {
    return (
      <Stack data-testid="model-detail" gap={4}>
        <BackLink />
        <ErrorAlert error={detail.error} title={detail.error?.status === 404 ? `No model named ${name}` : `Cannot load ${name}`} />
      </Stack>
    );
  }
  const { model, versions = [], events = [], deployments = [], expectations = [] } = detail.data;
  const runs = detail.data.scoring_runs ?? [];
  const associations = detail.data.associations ?? model.associations ?? [];
  const deployment = model.deployment;

  return (
    <Stack data-model={model.name} data-testid="model-detail" gap={5}>
      <BackLink />
      <HStack alignItems="flex-start" justifyContent="space-between">
        <Stack gap={2} minW={0}>
          <Heading as="h1" size="lg" wordBreak="break-all">
            {model.name}
          </Heading>
          {model.description ? (
            <Text color="fg.muted" data-testid="model-description">
              {model.description}
            </Text>
          ) : null}
          <AliasBadges aliases={model.aliases} emptyText="No aliases yet." />
        </Stack>
        <HStack gap={2}>
          <ModelActions
            canChange={canChange}
            model={model}
            onDetails={() => document.querySelector('[data-testid="modelyard"]')?.scrollTo({ top: 0, behavior: "smooth" })}
            onAction={(kind, m) => setAction({ kind, model: m })}
            variant="outline"
          />
        </HStack>
      </HStack>
      {detail.error && <ErrorAlert error={detail.error} title="Cannot refresh" />}

      <Grid gap={4} templateColumns="repeat(auto-fit, minmax(150px, 1fr))">
        <Fact label="Latest version">
          v{model.latest_version} <Muted>({model.versions} in all)</Muted>
        </Fact>
        <Fact label="Flavor / task">{[model.flavor, model.task].filter(Boolean).join(" · ") || "—"}</Fact>
        <Fact label="Origin">{model.origin ?? "—"}</Fact>
        <Fact label={model.key_metric ?? "Key metric"}>{formatMetric(model.key_metric_value) || "—"}</Fact>
        <Fact label="Deployment">
          {deployment ? (
            <HStack gap={1.5}>
              <StateBadge deployment state={deployment.status} />
              {deployment.status === "running" && <HealthDot healthy={deployment.healthy} />}
              <Text>v{deployment.model_version}</Text>
            </HStack>
          ) : (
            <Muted>not deployed</Muted>
          )}
          {deployment?.status === "running" && deployment.url && (
            <Text color="fg.muted" fontFamily="mono" fontSize="xs">
              {deployment.url}
            </Text>
          )}
        </Fact>
        <Fact label="Updated">
          <Time iso={model.updated_at} />
        </Fact>
      </Grid>

      {canChange && (
        <Section testId="aliases-section" title="Set, move or remove an alias">
          <AliasForm aliases={model.aliases} modelName={model.name} onChanged={detail.reload} versions={versions} />
        </Section>
      )}

      <Section testId="versions-section" title="Versions and metrics">
        <VersionsTable versions={versions} />
      </Section>

      <Section testId="plots-section" title="Evaluation plots">
        {versions.length ? <Plots modelName={model.name} versions={versions} /> : <Empty>No versions.</Empty>}
      </Section>

      <Section testId="deployments-section" title="Deployments">
        <DeploymentsTable deployments={deployments} />
      </Section>

      <MonitoringSection canChange={canChange} modelName={model.name} />

      <ChallengeSection canChange={canChange} model={model} onChanged={detail.reload} />

      <Section testId="scoring-section" title="Scoring runs">
        <ScoringRuns runs={runs} />
      </Section>

      <Section
        actions={
          canChange && (
            <Button onClick={() => setAction({ kind: "associate", model })} size="xs" variant="outline">
              <LinkIcon />
              Associate Scoring Workflow
            </Button>
          )
        }
        testId="associations-section"
        title="Scoring workflows"
      >
        <AssociationList associations={associations} canChange={canChange} onChanged={detail.reload} />
      </Section>

      <Section testId="expectations-section" title="Expectations">
        <Expectations canChange={canChange} expectations={expectations} modelName={model.name} onChanged={detail.reload} />
      </Section>

      <Section testId="events-section" title="History">
        <EventsTable events={events} />
      </Section>

      <ActionDialog action={action} canChange={canChange} onChanged={detail.reload} onClose={() => setAction(null)} />
    </Stack>
  );
};
