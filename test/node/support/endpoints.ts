/**
 * Push endpoints a client may try to make the server call, all of which it must refuse
 * (PUSH_ENDPOINT_HOSTS empty): loopback, private and link-local addresses in every spelling,
 * cloud metadata, look-alikes of the browsers' push services, parser tricks. Shared by the
 * worker tests (test/worker/endpoints.test.ts) and the hostile-input suite against npm start.
 */
export const REFUSED_ENDPOINTS = [
  // not https, not a URL
  "http://fcm.googleapis.com/fcm/send/x",
  "wss://fcm.googleapis.com/x",
  "fcm.googleapis.com/fcm/send/x",
  // loopback in every spelling
  "https://127.0.0.1/push",
  "https://localhost/push",
  "https://2130706433/push",
  "https://0177.0.0.1/push",
  "https://0x7f.1/push",
  "https://127.1/push",
  "https://[::1]/push",
  "https://[::ffff:127.0.0.1]/push",
  "https://[0:0:0:0:0:0:0:1]/push",
  "https://0.0.0.0/push",
  // private, link-local, cloud metadata
  "https://10.0.0.1/push",
  "https://167772161/push",
  "https://172.16.0.1/push",
  "https://192.168.1.1/push",
  "https://169.254.169.254/latest/meta-data/",
  "https://[fe80::1]/push",
  "https://[fd00::1]/push",
  "https://metadata.google.internal/computeMetadata/v1/",
  // look-alikes of the push services
  "https://fcm.googleapis.com.evil.example/x",
  "https://fcm-googleapis.com/x",
  "https://fcm.googleapis.co/x",
  "https://evilfcm.googleapis.com/x",
  "https://xfcm.googleapis.com/x",
  "https://fcm.googleapis.com./x",
  "https://fcm.googleapis.c\u043em/x", // Cyrillic о
  "https://web.push.apple.com.attacker.example/x",
  "https://updates.push.services.mozilla.com.evil.example/x",
  "https://notify.windows.com/w/",
  "https://evilnotify.windows.com/w/",
  "https://notify.windows.com.evil.example/w/",
  "https://a..notify.windows.com/w/",
  // userinfo and other parser tricks
  "https://fcm.googleapis.com@evil.example/x",
  "https://user:pass@fcm.googleapis.com/x",
  "https://user@fcm.googleapis.com/x",
  "https://evil.example\\@fcm.googleapis.com/x",
  "https://evil.example#@fcm.googleapis.com/x",
  "https://evil.example?@fcm.googleapis.com/x",
  // the right host on another port
  "https://fcm.googleapis.com:8443/x",
  "https://web.push.apple.com:80/x",
  // any other public host
  "https://example.com/push",
  "https://push.example.org/",
];

