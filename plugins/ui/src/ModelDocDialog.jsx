// ModelDoc: the rendered HTML in a sandboxed iframe (srcdoc, sandbox=""), download links, and the
// version's description edited in place (the list and header show the latest version's).
import { Box, Button, Field, HStack, Stack, Text, Textarea, chakra } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { api, apiText, apiUrl, useApi } from "./api.js";
import { ErrorAlert, Loading, SelectField, versionOptions } from "./common.jsx";
import { DownloadIcon } from "./icons.jsx";
import { LoadingModal } from "./Modal.jsx";

const Frame = chakra("iframe");

// A description belongs to a version (as its ModelDoc does); the model list and the model's
// header show the latest version's, and the note under the editor says which one that is.
const ListedNote = ({ version, latest }) => (
  <Text color="fg.muted" data-testid="description-listed" fontSize="xs">
    {version.version === latest
      ? `v${latest} is the latest version: its description is the one the model list and header show.`
      : `The model list and header show the latest version's description (v${latest}).`}
  </Text>
);

const DescriptionEditor = ({ modelName, version, latest, canChange, onSaved }) => {
  const [text, setText] = useState(version.description ?? "");
  const [saved, setSaved] = useState(version.description ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [justSaved, setJustSaved] = useState(false);
  useEffect(() => {
    setText(version.description ?? "");
    setSaved(version.description ?? "");
    setError(null);
    setJustSaved(false);
    // A new version only: a reload of the same version must not undo "Saved." or an edit.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version.version]);

  if (!canChange) {
    return (
      <Box>
        <Text color="fg.muted" fontSize="xs" fontWeight="medium">
          Description of v{version.version}
        </Text>
        <Text data-testid="description-text" fontSize="sm">
          {saved || "No description."}
        </Text>
        <ListedNote latest={latest} version={version} />
      </Box>
    );
  }
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api(["models", modelName, "versions", version.version, "description"], {
        method: "PUT",
        body: { description: text },
      });
      const value = answer?.description ?? text;
      setSaved(value ?? "");
      setText(value ?? "");
      setJustSaved(true);
      onSaved?.(answer);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const dirty = text !== saved;
  return (
    <Field.Root invalid={Boolean(error)}>
      <Field.Label>Description of v{version.version}</Field.Label>
      <HStack alignItems="flex-start" gap={2} w="100%">
        <Textarea
          autoresize
          data-testid="description-edit"
          maxH="8lh"
          onChange={(event) => {
            setText(event.target.value);
            setJustSaved(false);
          }}
          placeholder="What this version is, how it was trained, what it is for"
          rows={2}
          size="sm"
          value={text}
        />
        <Button
          colorPalette="brand"
          data-testid="description-save"
          disabled={!dirty}
          loading={busy}
          onClick={save}
          size="sm"
        >
          Save
        </Button>
      </HStack>
      {justSaved && !dirty && (
        <Field.HelperText color="fg.success" data-testid="description-saved">
          Saved.
        </Field.HelperText>
      )}
      <ListedNote latest={latest} version={version} />
      {error && (
        <Field.ErrorText data-field={error.field ?? "description"} data-testid="field-error">
          {error.message}
        </Field.ErrorText>
      )}
    </Field.Root>
  );
};

export const ModelDocDialog = ({ model, canChange, onClose, onChanged }) => {
  const detail = useApi(["models", model.name]);
  const [version, setVersion] = useState("");
  const [html, setHtml] = useState({ text: null, error: null, loading: false });
  const [reloadTick, setReloadTick] = useState(0);
  const versions = detail.data?.versions ?? [];

  useEffect(() => {
    if (detail.data && version === "" && versions.length) {
      setVersion(String(Math.max(...versions.map((v) => v.version))));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [detail.data]);

  useEffect(() => {
    if (!version) return undefined;
    const controller = new AbortController();
    setHtml((previous) => ({ ...previous, loading: true, error: null }));
    apiText(["models", model.name, "versions", version, "modeldoc"], {
      params: { format: "html" },
      signal: controller.signal,
    }).then(
      (text) => setHtml({ text, error: null, loading: false }),
      (error) => error?.name !== "AbortError" && setHtml({ text: null, error, loading: false }),
    );
    return () => controller.abort();
  }, [model.name, version, reloadTick]);

  const current = versions.find((v) => String(v.version) === version);
  const docUrl = (format) =>
    apiUrl(["models", model.name, "versions", version, "modeldoc"], { format, download: 1 });

  return (
    <LoadingModal
      bodyProps={{ display: "flex", flexDirection: "column", minH: 0 }}
      contentProps={{ maxH: "100%" }}
      error={detail.error}
      errorTitle="Cannot load the model's versions"
      footer={null}
      loading={detail.loading && !detail.data}
      onClose={onClose}
      size="cover"
      testId="modeldoc-dialog"
      title={`ModelDoc: ${model.name}${version ? ` v${version}` : ""}`}
    >
      {versions.length === 0 ? (
        <Text color="fg.muted">This model has no versions.</Text>
      ) : (
        <Stack gap={3} h="100%" minH={0}>
          <HStack alignItems="flex-end" flexWrap="wrap" gap={4} justifyContent="space-between">
            <SelectField
              label="Version"
              onChange={setVersion}
              options={versionOptions(versions)}
              testId="modeldoc-version"
              value={version}
              w="16rem"
            />
            {version && (
              <HStack flexWrap="wrap" gap={2}>
                <Text color="fg.muted" fontSize="sm">
                  Download
                </Text>
                {[
                  ["html", "HTML"],
                  ["md", "Markdown"],
                  ["json", "JSON"],
                ].map(([format, label]) => (
                  <Button asChild key={format} size="xs" variant="outline">
                    <a data-testid={`modeldoc-download-${format}`} download href={docUrl(format)}>
                      <DownloadIcon />
                      {label}
                    </a>
                  </Button>
                ))}
              </HStack>
            )}
          </HStack>
          {current && (
            <DescriptionEditor
              canChange={canChange}
              latest={Math.max(...versions.map((v) => v.version))}
              modelName={model.name}
              onSaved={() => {
                detail.reload();
                setReloadTick((n) => n + 1);
                onChanged?.();
              }}
              version={current}
            />
          )}
          {html.error && <ErrorAlert error={html.error} title="Cannot load the ModelDoc" />}
          <Box
            borderColor="border"
            borderRadius="md"
            borderWidth="1px"
            flex="1"
            minH="16rem"
            overflow="hidden"
            position="relative"
          >
            {html.loading && html.text === null && <Loading position="absolute" inset={0} />}
            {html.text !== null && (
              <Frame
                border="0"
                data-testid="modeldoc-frame"
                display="block"
                h="100%"
                sandbox=""
                srcDoc={html.text}
                title={`ModelDoc of ${model.name} v${version}`}
                w="100%"
              />
            )}
          </Box>
          <Text color="fg.muted" fontSize="xs">
            Shown in a sandbox, where its scripts and links are disabled: download it to open it on its own.
          </Text>
        </Stack>
      )}
    </LoadingModal>
  );
};
