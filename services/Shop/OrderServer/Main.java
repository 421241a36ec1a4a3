// OrderServer: prints the total of the order amounts given as arguments.
public class Main {
    public static void main(String[] args) {
        long total = 0;
        for (String a : args) total += Long.parseLong(a);
        System.out.println("total=" + total);
    }
}
