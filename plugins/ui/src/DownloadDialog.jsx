import { Button, Stack, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";

import { apiUrl, useApi } from "./api.js";
import { SelectField, versionOptions } from "./common.jsx";
import { DownloadIcon } from "./icons.jsx";
import { LoadingModal } from "./Modal.jsx";

export const DownloadDialog = ({ model, onClose }) => {
  const detail = useApi(["models", model.name]);
  const [version, setVersion] = useState("");
  const versions = detail.data?.versions ?? [];
  useEffect(() => {
    if (detail.data && version === "" && versions.length) {
      setVersion(String(Math.max(...versions.map((v) => v.version))));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [detail.data]);

  const href = version ? apiUrl(["models", model.name, "versions", version, "download"]) : null;
  return (
    <LoadingModal
      error={detail.error}
      errorTitle="Cannot load the model's versions"
      loading={detail.loading && !detail.data}
      onClose={onClose}
      size="md"
      testId="download-dialog"
      title={`Download ${model.name}`}
    >
      <Stack gap={4}>
        <SelectField
          label="Version"
          onChange={setVersion}
          options={versionOptions(versions)}
          testId="download-version"
          value={version}
        />
        <Text color="fg.muted" fontSize="sm">
          A zip with the MLflow model, its ModelDoc (HTML and JSON), requirements.txt and a MANIFEST.json with
          each file's SHA-256.
        </Text>
        {href && (
          <Button alignSelf="flex-start" asChild colorPalette="brand">
            <a data-testid="download-link" download href={href}>
              <DownloadIcon />
              {`${model.name}-v${version}.zip`}
            </a>
          </Button>
        )}
      </Stack>
    </LoadingModal>
  );
};
