// H2cClient — Java's own HTTP client (java.net.http, JDK 11+) asked for HTTP/2 on an http:// URL: it sends its first
// request with `Upgrade: h2c` and, once the server switched, the next ones as HTTP/2 frames on the same connection.
// Used by make-h2c-captures.sh (java H2cClient.java BASE TOKEN): GET BASE/index.html without credentials, then
// BASE/api/a.txt and BASE/api/b.txt with `Authorization: Bearer TOKEN`; prints each answer's version and status.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class H2cClient {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        String token = args[1];
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        HttpRequest first = HttpRequest.newBuilder(URI.create(base + "/index.html")).build();
        report(client.send(first, HttpResponse.BodyHandlers.ofString()));
        for (String path : new String[] {"/api/a.txt", "/api/b.txt"}) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(base + path))
                .header("Authorization", "Bearer " + token).build();
            report(client.send(request, HttpResponse.BodyHandlers.ofString()));
        }
    }

    private static void report(HttpResponse<String> response) {
        System.out.println(response.uri().getPath() + " " + response.version() + " " + response.statusCode());
        if (response.version() != HttpClient.Version.HTTP_2 || response.statusCode() != 200) {
            System.exit(1);
        }
    }
}
