/** R2 key naming: the only place that builds object keys. */
export const uploadKey = (transferId: string, index: number) => `uploads/${transferId}/${index}`;
export const packageKey = (transferId: string) => `packages/${transferId}.zip`;
export const uploadPrefix = (transferId: string) => `uploads/${transferId}/`;
