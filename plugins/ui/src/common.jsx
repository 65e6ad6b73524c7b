// Small pieces shared by the list, the dialogs and the detail view. Only Chakra components and
// semantic tokens: the host's theme decides every colour, in light and dark mode.
import { Alert, Badge, Box, Button, Center, Field, HStack, Link, NativeSelect, Spinner, Text } from "@chakra-ui/react";

import { airflowHref } from "./api.js";
import { aliasPairs, formatTime, timeTitle } from "./format.js";
import { ExternalIcon } from "./icons.jsx";

// Airflow's state palettes (`success`, `failed`, `running`, ... in the host's theme).
const PALETTES = {
  success: "success",
  succeeded: "success",
  running: "running",
  queued: "queued",
  scheduled: "scheduled",
  failed: "failed",
  upstream_failed: "upstream_failed",
  skipped: "skipped",
  up_for_retry: "up_for_retry",
  stopped: "none",
  replaced: "none",
  partial: "upstream_failed",
};

// Deployment states: a running deployment is serving, shown as healthy green.
const DEPLOYMENT_PALETTES = { running: "success", failed: "failed", stopped: "none", replaced: "none" };

export const StateBadge = ({ state, deployment = false, children, ...rest }) => {
  const palette = (deployment ? DEPLOYMENT_PALETTES[state] : PALETTES[state]) ?? "none";
  return (
    <Badge
      borderRadius="full"
      colorPalette={palette}
      px={2}
      variant={state ? "solid" : "outline"}
      whiteSpace="nowrap"
      {...rest}
    >
      {children ?? state ?? "no status"}
    </Badge>
  );
};

export const HealthDot = ({ healthy }) => {
  const label = healthy === true ? "healthy" : healthy === false ? "unhealthy" : "health unknown";
  const palette = healthy === true ? "success" : healthy === false ? "failed" : "none";
  return (
    <Box
      aria-label={label}
      as="span"
      bg={healthy === null || healthy === undefined ? "transparent" : "colorPalette.solid"}
      borderColor="colorPalette.solid"
      borderRadius="full"
      borderWidth="2px"
      boxSize="10px"
      colorPalette={palette}
      data-healthy={String(healthy ?? "unknown")}
      data-testid="health-dot"
      display="inline-block"
      flexShrink={0}
      role="img"
      title={label}
    />
  );
};

export const AliasBadges = ({ aliases, size = "sm", emptyText = "none" }) => {
  const pairs = aliasPairs(aliases);
  if (pairs.length === 0) return emptyText ? <Muted>{emptyText}</Muted> : null;
  return (
    <HStack flexWrap="wrap" gap={1}>
      {pairs.map(([alias, version]) => (
        <Badge colorPalette="brand" data-alias={alias} data-testid="alias-badge" key={alias} size={size} variant="surface">
          {alias}→v{version}
        </Badge>
      ))}
    </HStack>
  );
};

export const Muted = ({ children, ...rest }) => (
  <Text as="span" color="fg.muted" fontSize="xs" {...rest}>
    {children}
  </Text>
);

export const Time = ({ iso, seconds = false, ...rest }) =>
  iso ? (
    <Text as="time" dateTime={iso} title={timeTitle(iso)} whiteSpace="nowrap" {...rest}>
      {formatTime(iso, { seconds })}
    </Text>
  ) : (
    <Muted>—</Muted>
  );

// A link to an Airflow page (`airflow_url` from the API, relative to the Airflow base URL).
export const AirflowLink = ({ to, children, ...rest }) => (
  <Link color="fg.info" href={airflowHref(to)} {...rest}>
    {children}
  </Link>
);

export const AirflowButtonLink = ({ to, children, ...rest }) => (
  <Button asChild size="sm" variant="outline" {...rest}>
    <a href={airflowHref(to)}>
      {children}
      <ExternalIcon />
    </a>
  </Button>
);

export const ErrorAlert = ({ error, title = "Something went wrong", onRetry, ...rest }) =>
  error ? (
    <Alert.Root data-testid="error-alert" status="error" {...rest}>
      <Alert.Indicator />
      <Alert.Content>
        <Alert.Title>{title}</Alert.Title>
        <Alert.Description data-testid="error-message">{error.message ?? String(error)}</Alert.Description>
      </Alert.Content>
      {onRetry && (
        <Button alignSelf="center" colorPalette="danger" onClick={onRetry} size="xs" variant="outline">
          Retry
        </Button>
      )}
    </Alert.Root>
  ) : null;

export const Loading = ({ label = "Loading…", ...rest }) => (
  <Center data-testid="loading" gap={3} py={10} {...rest}>
    <Spinner colorPalette="brand" size="md" />
    <Text color="fg.muted">{label}</Text>
  </Center>
);

// A NativeSelect with a label, help and a field error (`data-testid="field-error"`).
export const SelectField = ({ label, value, onChange, options, testId, error, field, helper, disabled, ...rest }) => (
  <Field.Root disabled={disabled} invalid={Boolean(error)} {...rest}>
    {label && <Field.Label>{label}</Field.Label>}
    <NativeSelect.Root size="sm">
      <NativeSelect.Field data-testid={testId} onChange={(event) => onChange(event.target.value)} value={value}>
        {options.map((option) => (
          <option disabled={option.disabled} key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </NativeSelect.Field>
      <NativeSelect.Indicator />
    </NativeSelect.Root>
    {helper && <Field.HelperText>{helper}</Field.HelperText>}
    <FieldError error={error} field={field} />
  </Field.Root>
);

export const FieldError = ({ error, field }) =>
  error ? (
    <Field.ErrorText data-field={field} data-testid="field-error">
      {error}
    </Field.ErrorText>
  ) : null;

// Options for "a version or an alias" of a model.
export const refOptions = (aliases, versions, { prefix = null } = {}) => {
  const options = [];
  for (const [alias, version] of aliasPairs(aliases)) {
    options.push({ value: prefix ? `${prefix}@${alias}` : alias, label: `${alias} → v${version}` });
  }
  const latest = versions.length ? Math.max(...versions.map((v) => v.version)) : null;
  for (const v of versions) {
    const tag = v.version === latest ? " (latest)" : "";
    options.push({ value: prefix ? `${prefix}/${v.version}` : String(v.version), label: `v${v.version}${tag}` });
  }
  return options;
};

export const versionOptions = (versions) => {
  const latest = versions.length ? Math.max(...versions.map((v) => v.version)) : null;
  return versions.map((v) => {
    const aliases = (v.aliases ?? []).length ? ` · ${v.aliases.join(", ")}` : "";
    return { value: String(v.version), label: `v${v.version}${v.version === latest ? " (latest)" : ""}${aliases}` };
  });
};

export const Section = ({ title, actions, children, testId, ...rest }) => (
  <Box as="section" borderColor="border" borderRadius="md" borderWidth="1px" data-testid={testId} p={4} {...rest}>
    {(title || actions) && (
      <HStack justifyContent="space-between" mb={3}>
        <Text as="h2" fontSize="md" fontWeight="semibold">
          {title}
        </Text>
        {actions && <HStack gap={2}>{actions}</HStack>}
      </HStack>
    )}
    {children}
  </Box>
);
