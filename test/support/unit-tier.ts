// Some unit tests do local I/O (archives on disk, HTTP servers on loopback). On a loaded
// machine (2 cores shared by Jest's workers and the rest of CI) they can exceed Jest's 5 s
// default without being wrong; a test that hangs still fails, after 20 s.
jest.setTimeout(20_000);
