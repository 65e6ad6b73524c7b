// All Models: one row per registered model, searched, filtered, sorted and paged in the browser.
import {
  Badge,
  Box,
  Button,
  ButtonGroup,
  Code,
  EmptyState,
  HStack,
  Heading,
  IconButton,
  Input,
  InputGroup,
  Link,
  Stack,
  Table,
  Text,
  VStack,
  CloseButton,
} from "@chakra-ui/react";
import { useDeferredValue, useMemo, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { useApi, useKeptState, useWhoami } from "./api.js";
import { ActionDialog, ModelActions, modelPath } from "./Actions.jsx";
import { AirflowLink, AliasBadges, ErrorAlert, HealthDot, Loading, Muted, StateBadge } from "./common.jsx";
import { formatCount, formatMetric, formatPerMinute, formatTime, parseTime, relativeTime, timeTitle } from "./format.js";
import { CubeIcon, RefreshIcon, SearchIcon, SortIcon } from "./icons.jsx";

export const PAGE_SIZE = 50;
const INITIAL_VIEW = { q: "", sort: "name", desc: false, deployed: false, associated: false, page: 0 };

const byString = (value) => (value === null || value === undefined || value === "" ? null : String(value).toLowerCase());
const byNumber = (value) => (value === null || value === undefined || Number.isNaN(Number(value)) ? null : Number(value));
const byTime = (iso) => parseTime(iso)?.getTime() ?? null;
const DEPLOYMENT_ORDER = { running: 0, failed: 1, stopped: 2, replaced: 3 };

// Metrics of different names are never compared as one number: models group by their key
// metric's name, and within a group the better model comes first (higher roc_auc, lower rmse).
const byKeyMetric = (m) => {
  const value = byNumber(m.key_metric_value);
  if (!m.key_metric || value === null) return null;
  return [shortMetric(m.key_metric), m.key_metric_higher_is_better === false ? value : -value];
};
const KEY_METRIC_HELP =
  "Grouped by metric name, then best first within each metric: higher is better for roc_auc, lower for rmse.";

// What the search box looks in: the name, the description, flavor, task and alias names.
const searchText = (m) =>
  [m.name, m.description, m.flavor, m.task, ...Object.keys(m.aliases ?? {})].filter(Boolean).join("\n").toLowerCase();

const COLUMNS = [
  { id: "name", label: "Model", sort: (m) => byString(m.name) },
  { id: "version", label: "Latest / aliases", sort: (m) => byNumber(m.latest_version) },
  { id: "flavor", label: "Flavor / task", sort: (m) => byString(`${m.flavor ?? ""} ${m.task ?? ""}`.trim()) },
  { id: "origin", label: "Origin", sort: (m) => byString(m.origin) },
  { id: "metric", label: "Key metric", sort: byKeyMetric, help: KEY_METRIC_HELP, hint: "(best first)" },
  {
    id: "deployment",
    label: "Deployment",
    sort: (m) => (m.deployment ? (DEPLOYMENT_ORDER[m.deployment.status] ?? 4) * 10 + (m.deployment.healthy === false ? 1 : 0) : null),
  },
  {
    id: "health",
    label: "Health",
    sort: (m) => (m.monitoring?.open_alerts ? -m.monitoring.open_alerts : m.monitoring?.traffic_source ? 0 : null),
    help: "Open alerts of the latest monitored window with requests (most first), then traffic: live at the endpoint, else that window's.",
  },
  { id: "workflows", label: "Scoring workflows", sort: (m) => byNumber(m.associations?.length || null) },
  { id: "last_run", label: "Last scoring run", sort: (m) => byTime(m.last_run?.finished_at ?? m.last_run?.started_at) },
  { id: "updated", label: "Updated", sort: (m) => byTime(m.updated_at) },
];

// A sort key is a value or a list of values compared in turn (the key metric's [name, value]).
const compareKeys = (x, y) => {
  const xs = Array.isArray(x) ? x : [x];
  const ys = Array.isArray(y) ? y : [y];
  for (let i = 0; i < xs.length; i += 1) {
    if (xs[i] < ys[i]) return -1;
    if (xs[i] > ys[i]) return 1;
  }
  return 0;
};

const compare = (column, desc) => (a, b) => {
  const x = column.sort(a);
  const y = column.sort(b);
  // Unknown values go last whichever the direction.
  if (x === null && y === null) return a.name.localeCompare(b.name);
  if (x === null) return 1;
  if (y === null) return -1;
  const order = compareKeys(x, y) || a.name.localeCompare(b.name);
  return desc ? -order : order;
};

const NameCell = ({ model }) => (
  <Stack gap={0} maxW="12.5rem" minW="9rem">
    <Link asChild color="fg.info" fontWeight="bold" wordBreak="break-word">
      <RouterLink data-testid="model-link" to={modelPath(model.name)}>
        {model.name}
      </RouterLink>
    </Link>
    {model.description && (
      <Text color="fg.muted" fontSize="xs" lineClamp={2} title={model.description}>
        {model.description}
      </Text>
    )}
  </Stack>
);

const DeploymentCell = ({ deployment }) => {
  if (!deployment) return <Muted>not deployed</Muted>;
  return (
    <Stack gap={1}>
      <HStack gap={1.5}>
        <StateBadge data-testid="deployment-status" deployment state={deployment.status} />
        {deployment.status === "running" && <HealthDot healthy={deployment.healthy} />}
        {deployment.model_version !== null && deployment.model_version !== undefined && (
          <Text fontSize="xs">v{deployment.model_version}</Text>
        )}
        {deployment.status === "running" && deployment.replicas?.length > 0 && (
          <Text color="fg.muted" data-testid="deployment-replicas" fontSize="xs" whiteSpace="nowrap">
            {deployment.replicas.filter((replica) => replica.healthy).length}/{deployment.replicas.length} replicas
          </Text>
        )}
      </HStack>
      {deployment.url && deployment.status === "running" && (
        <Text color="fg.muted" data-testid="deployment-url" fontFamily="mono" fontSize="xs" whiteSpace="nowrap">
          {deployment.url}
        </Text>
      )}
      {deployment.status === "running" && deployment.status_reason?.startsWith("degraded") && (
        <Text color="fg.warning" fontSize="xs" lineClamp={2} maxW="11rem" title={deployment.status_reason}>
          {deployment.status_reason}
        </Text>
      )}
      {deployment.status === "failed" && deployment.status_reason && (
        <Text color="fg.error" fontSize="xs" lineClamp={2} maxW="11rem" title={deployment.status_reason}>
          {deployment.status_reason}
        </Text>
      )}
    </Stack>
  );
};

const WorkflowsCell = ({ associations }) => {
  if (!associations?.length) return <Muted>none</Muted>;
  return (
    <Stack gap={2}>
      {associations.map((a) => (
        <Stack data-name={a.name} data-testid="row-association" gap={0} key={a.name}>
          <AirflowLink
            fontFamily="mono"
            fontSize="xs"
            fontWeight="semibold"
            maxW="13rem"
            overflowWrap="anywhere"
            to={a.airflow_url ?? `dags/${a.dag_id}`}
          >
            {a.dag_id}
          </AirflowLink>
          <Text color="fg.muted" fontSize="xs" whiteSpace="nowrap">
            {a.schedule ? <Code size="sm">{a.schedule}</Code> : "on demand"}
          </Text>
          {a.next_run && (
            <Text color="fg.muted" fontSize="xs" title={timeTitle(a.next_run)} whiteSpace="nowrap">
              next {formatTime(a.next_run)}
            </Text>
          )}
        </Stack>
      ))}
    </Stack>
  );
};

const LastRunCell = ({ run }) => {
  if (!run) return <Muted>never scored</Muted>;
  const when = run.finished_at ?? run.started_at;
  return (
    <Stack gap={0.5}>
      <HStack gap={1.5}>
        <StateBadge state={run.status} />
        {run.model_version !== null && run.model_version !== undefined && <Text fontSize="xs">v{run.model_version}</Text>}
      </HStack>
      <Text fontSize="xs" whiteSpace="nowrap">
        {formatCount(run.rows_scored)} scored
      </Text>
      <Text color={run.rows_rejected ? "fg.warning" : "fg.muted"} fontSize="xs" whiteSpace="nowrap">
        {formatCount(run.rows_rejected ?? 0)} rejected
      </Text>
      {when && (
        <Text color="fg.muted" fontSize="xs" title={timeTitle(when)} whiteSpace="nowrap">
          {relativeTime(when)}
        </Text>
      )}
    </Stack>
  );
};

const RULE_WORDS = {
  feature_psi: "feature drift",
  drifted_share: "drifted share",
  error_rate: "error rate",
  latency_p99_ms: "latency",
  metric_floor: "metric floor",
};

// Health at a glance: a red flag when the latest monitored window raised alerts, and traffic.
const HealthCell = ({ monitoring }) => {
  if (!monitoring || (!monitoring.open_alerts && !monitoring.traffic_source)) return <Muted>—</Muted>;
  const figures = [
    monitoring.requests_per_min !== null && monitoring.requests_per_min !== undefined
      ? `${formatPerMinute(monitoring.requests_per_min)} req/min`
      : null,
    monitoring.error_rate !== null && monitoring.error_rate !== undefined ? `${(monitoring.error_rate * 100).toFixed(1)}% err` : null,
    monitoring.latency_p99_ms !== null && monitoring.latency_p99_ms !== undefined ? `p99 ${Math.round(monitoring.latency_p99_ms)} ms` : null,
  ].filter(Boolean);
  return (
    <Stack data-alerts={monitoring.open_alerts} data-testid="model-health" gap={1}>
      {monitoring.open_alerts > 0 ? (
        <Badge
          colorPalette="danger"
          data-testid="alert-flag"
          size="sm"
          title={monitoring.alert_rules.map((rule) => RULE_WORDS[rule] ?? rule).join(", ")}
          variant="solid"
          w="fit-content"
        >
          ⚑ {monitoring.open_alerts} {monitoring.open_alerts === 1 ? "alert" : "alerts"}
        </Badge>
      ) : (
        <Text color="fg.success" fontSize="xs">
          no alert
        </Text>
      )}
      {figures.length > 0 && (
        <Text color="fg.muted" data-source={monitoring.traffic_source} data-testid="model-traffic" fontSize="xs" whiteSpace="nowrap"
          title={monitoring.traffic_source === "live" ? "last 60 s at the endpoint" : `monitored window ending ${monitoring.window_end}`}>
          {figures.join(" · ")}
        </Text>
      )}
    </Stack>
  );
};

const ModelRow = ({ model, canChange, onAction }) => (
  <Table.Row data-model={model.name} data-testid="model-row">
    <Table.Cell>
      <NameCell model={model} />
    </Table.Cell>
    <Table.Cell>
      <Stack gap={1}>
        <Text whiteSpace="nowrap">
          {model.latest_version !== null && model.latest_version !== undefined ? `v${model.latest_version}` : "—"}
          {model.versions > 1 && <Muted> of {model.versions}</Muted>}
        </Text>
        {Object.keys(model.aliases ?? {}).length > 0 && <AliasBadges aliases={model.aliases} />}
      </Stack>
    </Table.Cell>
    <Table.Cell>
      <Text>{model.flavor ?? "—"}</Text>
      {model.task && <Muted>{model.task}</Muted>}
    </Table.Cell>
    <Table.Cell>{model.origin ?? <Muted>—</Muted>}</Table.Cell>
    <Table.Cell>
      {model.key_metric ? (
        <Stack gap={0}>
          <Text fontVariantNumeric="tabular-nums" fontWeight="medium">
            {formatMetric(model.key_metric_value)}
          </Text>
          <Muted data-testid="key-metric-name" title={`${model.key_metric}: ${betterWord(model)} is better`}>
            {shortMetric(model.key_metric)} {model.key_metric_higher_is_better === false ? "↓" : "↑"}
          </Muted>
        </Stack>
      ) : (
        <Muted>—</Muted>
      )}
    </Table.Cell>
    <Table.Cell>
      <DeploymentCell deployment={model.deployment} />
    </Table.Cell>
    <Table.Cell>
      <HealthCell monitoring={model.monitoring} />
    </Table.Cell>
    <Table.Cell>
      <WorkflowsCell associations={model.associations} />
    </Table.Cell>
    <Table.Cell>
      <LastRunCell run={model.last_run} />
    </Table.Cell>
    <Table.Cell>
      {model.updated_at ? (
        <Text as="time" dateTime={model.updated_at} fontSize="xs" title={timeTitle(model.updated_at)} whiteSpace="nowrap">
          {relativeTime(model.updated_at)}
        </Text>
      ) : (
        <Muted>—</Muted>
      )}
    </Table.Cell>
    <Table.Cell {...STICKY} textAlign="end">
      <ModelActions canChange={canChange} model={model} onAction={onAction} />
    </Table.Cell>
  </Table.Row>
);

// The Actions column stays in view when the table scrolls sideways on a narrow window (its
// background follows the table's stripes).
const STICKY = {
  bg: "bg",
  css: { "tr:nth-of-type(odd) > &": { bg: "bg.muted" } },
  insetInlineEnd: 0,
  position: "sticky",
  px: 1,
  zIndex: 1,
};

// The key metric is a validation metric: "validation_roc_auc" is shown as "roc_auc".
const shortMetric = (name) => name.replace(/^(validation|val)_/, "");
const betterWord = (model) => (model.key_metric_higher_is_better === false ? "lower" : "higher");

const SortHeader = ({ column, sort, desc, onSort }) => {
  const active = sort === column.id;
  return (
    <Table.ColumnHeader aria-sort={active ? (desc ? "descending" : "ascending") : "none"} paddingBlock={1} whiteSpace="nowrap">
      <Button
        title={column.help}
        _focus={{ color: "brand.fg" }}
        _hover={{ color: "brand.fg" }}
        border={0}
        color={active ? "brand.fg" : undefined}
        data-sort={column.id}
        fontWeight="semibold"
        gap={1}
        h="auto"
        minW={0}
        onClick={() => onSort(column.id)}
        p={0}
        size="sm"
        variant="plain"
      >
        {column.label}
        {column.hint && (
          <Box as="span" color="fg.muted" fontSize="xs" fontWeight="normal">
            {column.hint}
          </Box>
        )}
        <SortIcon dir={active ? (desc ? "desc" : "asc") : null} />
      </Button>
    </Table.ColumnHeader>
  );
};

const EmptyModels = ({ filtered, onClear }) =>
  filtered ? (
    <EmptyState.Root data-testid="models-no-match" size="sm">
      <EmptyState.Content>
        <EmptyState.Indicator>
          <SearchIcon />
        </EmptyState.Indicator>
        <VStack textAlign="center">
          <EmptyState.Title>No model matches</EmptyState.Title>
          <EmptyState.Description>Change the search or the filters to see more models.</EmptyState.Description>
        </VStack>
        <Button onClick={onClear} size="sm" variant="outline">
          Clear search and filters
        </Button>
      </EmptyState.Content>
    </EmptyState.Root>
  ) : (
    <EmptyState.Root borderColor="border" borderRadius="md" borderWidth="1px" data-testid="models-empty">
      <EmptyState.Content>
        <EmptyState.Indicator>
          <CubeIcon />
        </EmptyState.Indicator>
        <VStack textAlign="center">
          <EmptyState.Title>No models registered yet</EmptyState.Title>
          <EmptyState.Description maxW="36rem">
            Models appear here once they are in the registry. Train the demo models, or import one you already have:
          </EmptyState.Description>
        </VStack>
        <Stack alignItems="flex-start" fontSize="sm" gap={2}>
          <HStack>
            <Code>modelyard train</Code>
            <Text color="fg.muted">trains and registers the demo models</Text>
          </HStack>
          <HStack>
            <Code>modelyard models import PATH --name NAME</Code>
            <Text color="fg.muted">registers an external model</Text>
          </HStack>
        </Stack>
      </EmptyState.Content>
    </EmptyState.Root>
  );

const Pager = ({ page, pages, total, onPage }) => {
  if (pages <= 1) return null;
  const first = page * PAGE_SIZE + 1;
  const last = Math.min(total, (page + 1) * PAGE_SIZE);
  return (
    <HStack data-testid="models-pager" justifyContent="space-between" py={3}>
      <Text color="fg.muted" fontSize="sm">
        {first}–{last} of {total}
      </Text>
      <HStack gap={2}>
        <Button data-testid="prev" disabled={page === 0} onClick={() => onPage(page - 1)} size="sm" variant="outline">
          Previous
        </Button>
        <Text data-testid="page-indicator" fontSize="sm">
          Page {page + 1} of {pages}
        </Text>
        <Button data-testid="next" disabled={page >= pages - 1} onClick={() => onPage(page + 1)} size="sm" variant="outline">
          Next
        </Button>
      </HStack>
    </HStack>
  );
};

const FilterButton = ({ active, label, onClick, testId }) => (
  <Button
    aria-pressed={active}
    colorPalette="brand"
    data-testid={testId}
    onClick={onClick}
    size="sm"
    variant={active ? "solid" : "outline"}
  >
    {label}
  </Button>
);

export const ModelsList = () => {
  const whoami = useWhoami();
  const canChange = Boolean(whoami?.can_change);
  const models = useApi("models");
  // Kept outside the URL on purpose: the host remounts the page when the location first changes,
  // which would take the focus away from the search box while typing.
  const [view, setView] = useKeptState("models-list", INITIAL_VIEW);
  const [action, setAction] = useState(null);
  const { q: search, sort, desc, deployed, associated, page } = view;
  // Any change but paging goes back to the first page.
  const update = (changes) =>
    setView((previous) => ({ ...previous, page: 0, ...changes }));

  const rows = models.data?.models ?? [];
  // Typing stays responsive with 500 models: the table follows the search a moment later.
  const deferredSearch = useDeferredValue(search);
  const visible = useMemo(() => {
    const needle = deferredSearch.trim().toLowerCase();
    const column = COLUMNS.find((c) => c.id === sort) ?? COLUMNS[0];
    return rows
      .filter((m) => !needle || searchText(m).includes(needle))
      .filter((m) => !deployed || m.deployment?.status === "running")
      .filter((m) => !associated || (m.associations?.length ?? 0) > 0)
      .sort(compare(column, desc));
  }, [rows, deferredSearch, sort, desc, deployed, associated]);

  const pages = Math.max(1, Math.ceil(visible.length / PAGE_SIZE));
  const pageIndex = Math.min(page, pages - 1);
  const pageRows = visible.slice(pageIndex * PAGE_SIZE, (pageIndex + 1) * PAGE_SIZE);
  const filtered = Boolean(search.trim()) || deployed || associated;
  const onSort = (id) => update(id === sort ? { sort: id, desc: !desc } : { sort: id, desc: false });

  const deployedCount = rows.filter((m) => m.deployment?.status === "running").length;

  return (
    <Box data-testid="models-page">
      <Stack gap={3}>
        <HStack justifyContent="space-between">
          <Heading as="h1" size="lg">
            Models
          </Heading>
          <HStack gap={2}>
            {whoami?.user && (
              <Text color="fg.muted" fontSize="sm">
                {whoami.user} · {whoami.role}
                {canChange ? "" : " (read only)"}
              </Text>
            )}
            <IconButton
              aria-label="Refresh"
              data-testid="models-refresh"
              loading={models.loading && Boolean(models.data)}
              onClick={models.reload}
              size="sm"
              title="Refresh"
              variant="ghost"
            >
              <RefreshIcon />
            </IconButton>
          </HStack>
        </HStack>
        <InputGroup
          colorPalette="brand"
          endElement={
            search ? <CloseButton aria-label="Clear search" onClick={() => update({ q: "" })} size="xs" /> : undefined
          }
          startElement={<SearchIcon />}
        >
          <Input
            aria-label="Search models by name, description, flavor, task or alias"
            data-testid="models-search"
            onChange={(event) => update({ q: event.target.value })}
            placeholder="Search name, description, flavor, task, alias"
            value={search}
          />
        </InputGroup>
        <HStack flexWrap="wrap" gap={2} justifyContent="space-between">
          <HStack gap={2}>
            <ButtonGroup attached={false} gap={2} size="sm">
              <FilterButton
                active={deployed}
                label="Deployed"
                onClick={() => update({ deployed: !deployed })}
                testId="filter-deployed"
              />
              <FilterButton
                active={associated}
                label="Associated"
                onClick={() => update({ associated: !associated })}
                testId="filter-associated"
              />
            </ButtonGroup>
          </HStack>
          {models.data && (
            <Heading data-testid="models-count" size="md">
              {filtered ? `${visible.length} of ${rows.length} models` : `${rows.length} ${rows.length === 1 ? "model" : "models"}`}
              <Text as="span" color="fg.muted" fontSize="sm" fontWeight="normal">
                {" "}
                · {deployedCount} deployed
              </Text>
            </Heading>
          )}
        </HStack>
      </Stack>

      <Box mt={3}>
        {models.error && <ErrorAlert error={models.error} mb={3} onRetry={models.reload} title="Cannot load the models" />}
        {models.loading && !models.data ? (
          <Loading label="Loading models…" />
        ) : !models.data ? null : visible.length === 0 ? (
          <EmptyModels
            filtered={filtered && rows.length > 0}
            onClear={() => update({ q: "", deployed: false, associated: false })}
          />
        ) : (
          <>
            <Table.ScrollArea borderColor="border" borderRadius="md" borderWidth="1px">
              <Table.Root css={{ "& td, & th": { paddingInline: "6px" } }} data-testid="models-table" size="sm" striped>
                <Table.Header>
                  <Table.Row>
                    {COLUMNS.map((column) => (
                      <SortHeader column={column} desc={desc} key={column.id} onSort={onSort} sort={sort} />
                    ))}
                    <Table.ColumnHeader {...STICKY}>
                      <Box as="span" srOnly>
                        Actions
                      </Box>
                    </Table.ColumnHeader>
                  </Table.Row>
                </Table.Header>
                <Table.Body>
                  {pageRows.map((model) => (
                    <ModelRow
                      canChange={canChange}
                      key={model.name}
                      model={model}
                      onAction={(kind, m) => setAction({ kind, model: m })}
                    />
                  ))}
                </Table.Body>
              </Table.Root>
            </Table.ScrollArea>
            <Pager onPage={(p) => setView((previous) => ({ ...previous, page: p }))} page={pageIndex} pages={pages} total={visible.length} />
          </>
        )}
      </Box>
      <ActionDialog
        action={action}
        canChange={canChange}
        onChanged={models.reload}
        onClose={() => setAction(null)}
      />
    </Box>
  );
};
