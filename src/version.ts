/** The agent's version; a test keeps it equal to package.json's (a JSON import would warn on Node 20 and complicate bundling). */
export const VERSION = '1.0.0';
