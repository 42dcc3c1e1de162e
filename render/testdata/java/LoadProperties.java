import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Properties;
import java.util.TreeSet;

// Reads a properties file as Spark does (Utils.getPropertiesFromFile:
// Properties.load over a UTF-8 reader) and prints each key and value in
// base64, one pair a line, for the render tests to compare.
public class LoadProperties {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (InputStreamReader r = new InputStreamReader(new FileInputStream(args[0]), StandardCharsets.UTF_8)) {
            p.load(r);
        }
        Base64.Encoder b64 = Base64.getEncoder();
        for (String k : new TreeSet<>(p.stringPropertyNames())) {
            System.out.println(b64.encodeToString(k.getBytes(StandardCharsets.UTF_8)) + " "
                + b64.encodeToString(p.getProperty(k).getBytes(StandardCharsets.UTF_8)));
        }
    }
}
