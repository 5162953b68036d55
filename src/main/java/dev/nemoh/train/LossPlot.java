package dev.nemoh.train;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;

/** The loss curve as a PNG chart: training loss per step as a line, held-out loss as dots joined by a line. */
public final class LossPlot {
    private static final int WIDTH = 900, HEIGHT = 540, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 50;
    private static final Color TRAIN = new Color(0x1f77b4), EVAL = new Color(0xff7f0e);

    private LossPlot() {}

    /**
     * Draws the chart into {@code png}. Throws {@link UnsupportedOperationException} where this JDK cannot draw text
     * (a minimal runtime image without fontconfig or fonts): the run goes on, loss.csv has the numbers.
     */
    public static void write(LossCurve curve, Path png) {
        System.setProperty("java.awt.headless", "true");
        BufferedImage image;
        try {
            image = draw(curve);
        } catch (RuntimeException | LinkageError | java.awt.AWTError | InternalError e) {
            throw new UnsupportedOperationException("this Java runtime cannot draw the loss chart (" + e + ")", e);
        }
        Path tmp = png.resolveSibling(png.getFileName() + ".tmp");
        try {
            if (!ImageIO.write(image, "png", tmp.toFile())) throw new IOException("no PNG writer in this JDK");
            Files.move(tmp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + png + ": " + e.getMessage());
        }
    }

    /** Whether this Java runtime can draw the chart's text (a minimal image without fonts cannot). */
    public static boolean canDraw() {
        System.setProperty("java.awt.headless", "true");
        try {
            Graphics2D g = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB).createGraphics();
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.drawString("0", 0, 8);
            g.dispose();
            return true;
        } catch (RuntimeException | LinkageError | java.awt.AWTError | InternalError e) {
            return false;
        }
    }

    private static BufferedImage draw(LossCurve curve) {
        List<LossCurve.Row> rows = curve.rows();
        BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));

        int lastStep = rows.isEmpty() ? 1 : Math.max(1, rows.getLast().step());
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (LossCurve.Row r : rows) {
            for (double v : new double[]{r.trainLoss(), r.evalLoss()}) {
                if (Double.isFinite(v)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (!(hi > lo)) {
            lo = Double.isFinite(lo) ? lo - 0.5 : 0;
            hi = lo + 1;
        }
        Scale x = new Scale(0, lastStep, LEFT, WIDTH - RIGHT);
        Scale y = new Scale(lo, hi, HEIGHT - BOTTOM, TOP);

        g.setColor(new Color(0xdddddd));
        for (int i = 0; i <= 5; i++) {
            double v = lo + (hi - lo) * i / 5;
            int py = (int) y.at(v);
            g.drawLine(LEFT, py, WIDTH - RIGHT, py);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.3f", v), 8, py + 4);
            g.setColor(new Color(0xdddddd));
        }
        g.setColor(Color.DARK_GRAY);
        g.drawRect(LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        for (int i = 0; i <= 5; i++) {
            int step = (int) Math.round((double) lastStep * i / 5);
            g.drawString(Integer.toString(step), (int) x.at(step) - 8, HEIGHT - BOTTOM + 18);
        }
        g.drawString("step", WIDTH / 2 - 12, HEIGHT - 12);
        g.drawString("loss", 8, TOP - 12);

        g.setStroke(new BasicStroke(1.5f));
        g.setColor(TRAIN);
        g.draw(line(rows, x, y, false));
        g.setColor(EVAL);
        g.draw(line(rows, x, y, true));
        for (LossCurve.Row r : rows) {
            if (!Double.isNaN(r.evalLoss())) g.fillOval((int) x.at(r.step()) - 3, (int) y.at(r.evalLoss()) - 3, 7, 7);
        }
        g.setColor(TRAIN);
        g.drawString("train loss", WIDTH - RIGHT - 170, TOP - 12);
        g.setColor(EVAL);
        g.drawString("eval loss", WIDTH - RIGHT - 80, TOP - 12);
        g.dispose();
        return image;
    }

    private static Path2D line(List<LossCurve.Row> rows, Scale x, Scale y, boolean eval) {
        Path2D path = new Path2D.Double();
        boolean started = false;
        for (LossCurve.Row r : rows) {
            double v = eval ? r.evalLoss() : r.trainLoss();
            if (Double.isNaN(v)) continue;
            if (started) {
                path.lineTo(x.at(r.step()), y.at(v));
            } else {
                path.moveTo(x.at(r.step()), y.at(v));
                started = true;
            }
        }
        return path;
    }

    /** Maps data values in [from, to] linearly onto pixels in [pixelFrom, pixelTo]. */
    private record Scale(double from, double to, double pixelFrom, double pixelTo) {
        double at(double v) {
            return pixelFrom + (v - from) / (to - from) * (pixelTo - pixelFrom);
        }
    }
}
